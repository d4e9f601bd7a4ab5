// Package app builds a photobot from its configuration: the clients, the
// store, the core and the HTTP handler. The command and the Yandex Cloud
// function both start here, so they cannot drift apart. It is the one
// place that knows the concrete adapters; its users get the core, HTTP
// handlers, a long-polling runner and, for the operator's commands,
// admin's narrow ports.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/localstore"
	"github.com/photobot/photobot/longpoll"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/s3store"
	"github.com/photobot/photobot/stats"
	"github.com/photobot/photobot/telegram"
)

// Logger writes one JSON object per line with "level" and "msg", which
// Yandex Cloud Logging reads as a structured entry.
func Logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// HTTPClient is the client for every outbound call. It has no overall
// timeout, because bodies stream; every call runs under a context deadline
// and the transport bounds connecting and waiting for headers.
func HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		ForceAttemptHTTP2:     true,
	}}
}

// Bot is a configured core with the clients it talks through.
type Bot struct {
	*pipeline.Bot
	cfg      *config.Config
	log      *slog.Logger
	http     *http.Client
	tg       *telegram.Client
	rc       *replicate.Client
	verifier *replicate.Verifier // nil for photobot run
	s3       *s3store.Store      // nil when running on a local directory
	pending  longpoll.Pending    // the tasks a stopped run left; nil on a bucket (not listed)
}

// New wires a Bot. Nothing here touches the network.
func New(cfg *config.Config, log *slog.Logger, mode config.Mode) (*Bot, error) {
	return NewWith(cfg, log, mode, nil)
}

// NewWith is New with a change to the core's options before it is built
// (tests move its clock or shorten its deadlines).
func NewWith(cfg *config.Config, log *slog.Logger, mode config.Mode, change func(*pipeline.Options)) (*Bot, error) {
	b := &Bot{cfg: cfg, log: log, http: HTTPClient()}
	var err error
	if b.tg, err = telegram.New(cfg.TelegramAPIURL, cfg.TelegramToken, b.http); err != nil {
		return nil, err
	}
	b.tg.Log = log
	b.tg.SetResultHosts(cfg.ResultHosts)
	if len(fakeResultOrigins) > 0 {
		b.TrustResultOriginsForTests(fakeResultOrigins...)
	}
	b.rc = replicate.New(cfg.ReplicateAPIURL, cfg.ReplicateToken, b.http)
	deps := pipeline.Deps{Chat: b.tg, Models: b.rc, Payments: payments(cfg, b.tg), Log: log}
	if err := b.stores(&deps); err != nil {
		return nil, err
	}
	deps.Ledger = stats.New(deps.Store, log)
	opt := pipeline.Options{
		Effects: cfg.Effects, DefaultEffect: cfg.DefaultEffect, About: cfg.About,
		PredictionDeadline: cfg.PredictionDeadline,
		Allowed:            cfg.AllowedUsers, Admins: cfg.AdminUsers, MaxActive: cfg.MaxActive, DailyLimit: cfg.DailyLimit,
		ShowStars:  cfg.Payments.PriceStars > 0,
		FreePerDay: cfg.Payments.FreePerDay, StarPacks: cfg.Payments.StarPacks,
		PaySupport: cfg.Payments.PaySupport, Terms: cfg.Payments.Terms, PaySecret: paySecret(cfg.TelegramToken),
	}
	if mode != config.Run {
		opt.WebhookURL = cfg.PublicURL + httpapi.ReplicatePath
		if b.verifier, err = replicate.NewVerifier(cfg.ReplicateWebhookSecret, b.rc); err != nil {
			return nil, err
		}
	}
	if change != nil {
		change(&opt)
	}
	if b.Bot, err = pipeline.New(deps, opt); err != nil {
		return nil, err
	}
	warnAboutUsernames(log, cfg)
	return b, nil
}

// payments is how the bot takes Telegram Stars: the Telegram client when
// something costs Stars (PRICE_STARS; an effect's price counts only with
// it), nil otherwise, which keeps the bot free exactly as without payments.
// pre_checkout_query reaches the core either way: it is among
// telegram.AllowedUpdates, which setup gives the webhook and run's
// getUpdates asks for.
func payments(cfg *config.Config, tg *telegram.Client) pipeline.Payments {
	if cfg.Payments.PriceStars == 0 {
		return nil
	}
	return tg
}

// stores wires the state and the photos: the bucket, or a local directory
// whose photos reach the model through Replicate's Files API.
func (b *Bot) stores(deps *pipeline.Deps) error {
	cfg := b.cfg
	if cfg.S3Bucket != "" {
		s, err := s3store.New(s3store.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, HTTPClient: b.http})
		if err != nil {
			return err
		}
		b.s3, deps.Store, deps.Images = s, s, s
		return nil
	}
	s, err := localstore.New(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("DATA_DIR %s cannot be used: %v: set DATA_DIR to a directory this user may write, or S3_BUCKET to keep the state in a bucket",
			cfg.DataDir, rootCause(err))
	}
	deps.Store, b.pending = s, s
	deps.Images = &replicate.ImageStore{Store: s, Client: b.rc, MaxSize: telegram.MaxDownloadSize}
	return nil
}

// rootCause is the innermost error: "permission denied" rather than the
// wrapping of every layer that passed it on.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// warnAboutUsernames: a username can be released and taken by someone
// else, who would then be exempt from the limits.
func warnAboutUsernames(log *slog.Logger, cfg *config.Config) {
	var names []string
	for _, e := range cfg.AdminList {
		if strings.HasPrefix(e, "@") {
			names = append(names, e)
		}
	}
	if len(names) > 0 {
		log.Warn("ADMIN_USERS names users by @username: a username can be released and taken by someone else, "+
			"who would then be exempt from the limits; put their numeric ids there instead (photobot doctor looks them up where Telegram allows; "+
			"the log shows user_id when they write)", "usernames", strings.Join(names, ","))
	}
}

// paySecret is the key that signs invoices' payloads: derived from the bot
// token, so that it needs no setting of its own, changes with the token,
// and cannot be turned back into it.
func paySecret(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("photobot invoice payloads"))
	return m.Sum(nil)
}

// Handler is the HTTP face of a Bot: both webhooks and /healthz.
func (b *Bot) Handler() http.Handler {
	return httpapi.New(b.Bot, b.cfg.TelegramWebhookSecret, b.verifier, b.log)
}

// TelegramWebhook is Telegram's webhook alone (the function fn-handler).
func (b *Bot) TelegramWebhook() http.Handler {
	return httpapi.Logged(b.log, httpapi.Telegram(b.Bot, b.cfg.TelegramWebhookSecret, b.log))
}

// ReplicateWebhook is Replicate's webhook alone (the function fn-callback).
func (b *Bot) ReplicateWebhook() http.Handler {
	return httpapi.Logged(b.log, httpapi.Replicate(b.Bot, b.verifier, b.log))
}

// LongPoll is the transport of photobot run: updates from getUpdates,
// predictions polled.
func (b *Bot) LongPoll() *longpoll.Runner {
	return &longpoll.Runner{Bot: b.Bot, Telegram: b.tg, Replicate: b.rc, Log: b.log, Tasks: b.pending}
}

// SetRetryBackoff changes the first wait before the clients retry a call
// that failed transiently (tests shorten it).
func (b *Bot) SetRetryBackoff(d time.Duration) {
	b.tg.Backoff = d
	b.rc.Backoff = d
}

// Services are the bot's configuration and clients as the operator's
// commands (admin) use them.
func (b *Bot) Services() admin.Services {
	s := admin.Services{Config: b.cfg, Telegram: b.tg, Replicate: b.rc, HTTP: b.http}
	if b.s3 != nil {
		s.Bucket = b.s3
	}
	return s
}

// Connect makes the services of a configuration that may be incomplete
// (doctor): each one whose settings are there.
func Connect(cfg *config.Config) admin.Services {
	hc := HTTPClient()
	s := admin.Services{Config: cfg, HTTP: hc}
	if cfg.TelegramToken != "" {
		if tg, err := telegram.New(cfg.TelegramAPIURL, cfg.TelegramToken, hc); err == nil {
			s.Telegram = tg
		}
	}
	if cfg.ReplicateToken != "" {
		s.Replicate = replicate.New(cfg.ReplicateAPIURL, cfg.ReplicateToken, hc)
	}
	if cfg.S3Bucket != "" && cfg.AccessKeyID != "" && cfg.SecretAccessKey != "" {
		st, err := s3store.New(s3store.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, HTTPClient: hc})
		if err == nil {
			s.Bucket = st
		}
	}
	return s
}

// Serve runs the webhooks over HTTP on the configured port until ctx ends,
// then lets the requests in flight finish (photobot serve; SIGTERM).
func (b *Bot) Serve(ctx context.Context) error {
	srv := &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(b.cfg.Port)),
		Handler:           b.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	b.log.Info("serving webhooks", "addr", ln.Addr().String())
	go b.checkBucket(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	b.log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// checkBucket tells at start, rather than at the first update, that the
// bucket cannot be used, and what to do (the store's errors carry the
// hint). It runs beside serving: a slow bucket must not delay the start.
func (b *Bot) checkBucket(ctx context.Context) {
	if b.s3 == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.s3.CheckBucket(ctx); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return // shutting down
		}
		b.log.Error("the bucket cannot be used: every update will fail until this is fixed", "err", err.Error())
		return
	}
	b.log.Info("bucket reachable", "bucket", b.cfg.S3Bucket)
}

// fakeResultOrigins is set only in a build for the bench (fake_results.go).
var fakeResultOrigins []string

// TrustResultOriginsForTests lets results also come from the exact origins
// given (a fake Replicate's http://127.0.0.1:PORT), which RESULT_HOSTS
// never allows. Tests only.
func (b *Bot) TrustResultOriginsForTests(origins ...string) {
	b.tg.TrustResultOriginsForTests(b.cfg.ResultHosts, origins)
}
