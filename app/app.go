// Package app builds a photobot from its configuration: the clients, the
// store, the core and the HTTP handler. The command and the Yandex Cloud
// function both start here, so they cannot drift apart.
package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/localstore"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/s3store"
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
	Config    *config.Config
	Log       *slog.Logger
	Telegram  *telegram.Client
	Replicate *replicate.Client
	Verifier  *replicate.Verifier // nil for photobot run
	S3        *s3store.Store      // nil when running on a local directory
	Store     pipeline.Store
}

// New wires a Bot. Nothing here touches the network.
func New(cfg *config.Config, log *slog.Logger, mode config.Mode) (*Bot, error) {
	return NewWith(cfg, log, mode, nil)
}

// NewWith is New with a change to the core's options before it is built
// (tests move its clock or shorten its deadlines).
func NewWith(cfg *config.Config, log *slog.Logger, mode config.Mode, change func(*pipeline.Options)) (*Bot, error) {
	hc := HTTPClient()
	tg, err := telegram.New(cfg.TelegramAPIURL, cfg.TelegramToken, hc)
	if err != nil {
		return nil, err
	}
	tg.Log = log
	rc := replicate.New(cfg.ReplicateAPIURL, cfg.ReplicateToken, hc)
	b := &Bot{Config: cfg, Log: log, Telegram: tg, Replicate: rc}
	deps := pipeline.Deps{Chat: tg, Models: rc, Log: log}
	if cfg.S3Bucket != "" {
		s, err := s3store.New(s3store.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, HTTPClient: hc})
		if err != nil {
			return nil, err
		}
		b.S3, deps.Store, deps.Images = s, s, s
	} else {
		s, err := localstore.New(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		deps.Store, deps.Images = s, &replicateFiles{store: s, client: rc}
	}
	b.Store = deps.Store
	opt := pipeline.Options{
		Effects: cfg.Effects, DefaultEffect: cfg.DefaultEffect, About: cfg.About,
		PredictionDeadline: cfg.PredictionDeadline,
		Allowed:            cfg.AllowedUsers, Admins: cfg.AdminUsers, MaxActive: cfg.MaxActive, DailyLimit: cfg.DailyLimit,
	}
	if mode != config.Run {
		opt.WebhookURL = cfg.PublicURL + httpapi.ReplicatePath
		b.Verifier, err = replicate.NewVerifier(cfg.ReplicateWebhookSecret, rc)
		if err != nil {
			return nil, err
		}
	}
	if change != nil {
		change(&opt)
	}
	if b.Bot, err = pipeline.New(deps, opt); err != nil {
		return nil, err
	}
	return b, nil
}

// Handler is the HTTP face of a Bot: both webhooks and /healthz.
func (b *Bot) Handler() http.Handler {
	return httpapi.New(b.Bot, b.Config.TelegramWebhookSecret, b.Verifier, b.Log)
}

// dataURIMax is the largest photo handed to Replicate inline; larger ones
// go through its Files API.
const dataURIMax = 256 << 10

// replicateFiles keeps photos in a local store and hands them to the model
// without a public URL: inline as a data URI when small, through
// Replicate's Files API otherwise.
type replicateFiles struct {
	store  pipeline.Store
	client *replicate.Client
}

func (r *replicateFiles) StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (string, error) {
	data, err := io.ReadAll(io.LimitReader(body, telegram.MaxDownloadSize+1))
	if err != nil {
		return "", err
	}
	if err := r.store.Put(ctx, key, bytes.NewReader(data), int64(len(data)), contentType); err != nil {
		return "", err
	}
	if len(data) <= dataURIMax {
		return "data:" + contentType + ";base64," + base64.StdEncoding.EncodeToString(data), nil
	}
	return r.client.UploadFile(ctx, key[len("images/input/"):], contentType, data)
}

// Serve runs the webhooks over HTTP on the configured port until ctx ends,
// then lets the requests in flight finish (photobot serve; SIGTERM).
func (b *Bot) Serve(ctx context.Context) error {
	srv := &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(b.Config.Port)),
		Handler:           b.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	b.Log.Info("serving webhooks", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	b.Log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
