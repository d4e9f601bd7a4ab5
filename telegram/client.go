// Package telegram is photobot's side of the Telegram Bot API: the
// pipeline.Chat port (files in, messages and results out, with Telegram's
// own mechanics: a URL first, an upload when Telegram refuses it, photo or
// document, albums, what a webhook's answer may carry), the decoding of
// updates, and the operator's calls (webhook, commands, getMe).
//
// It is a thin layer over github.com/go-telegram/bot that adds what a
// serverless webhook needs: bounded retries of transient failures, errors
// sorted for the core (pipeline's sentinels) and for the operator,
// streaming file transfers, and redaction of the bot token from every
// error.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-telegram/bot"

	"github.com/photobot/photobot/internal/retry"
	"github.com/photobot/photobot/internal/safehttp"
	"github.com/photobot/photobot/pipeline"
)

// DefaultAPIURL is the public Bot API server.
const DefaultAPIURL = "https://api.telegram.org"

// Client calls the Bot API. It is safe for concurrent use.
type Client struct {
	api   *bot.Bot
	base  string
	token string
	http  *http.Client
	poll  *http.Client // getUpdates': no wait for headers (see pollClient)

	// Where a model's outputs may come from (see SetResultHosts): a URL
	// not allowed is neither handed to Telegram nor downloaded.
	resultOK func(raw string) error
	results  *http.Client // downloads outputs: safehttp's, never c.http

	// Policy retries calls that fail transiently (5xx, 429, network
	// errors): 3 attempts, 200 ms then doubling, a retry_after of at most
	// 3 s honoured; a longer one is returned as a transient error.
	retry.Policy
	// Log, when set, hears of the fallbacks of SendResult (a refused URL
	// uploaded instead).
	Log *slog.Logger
}

// New returns a client for the Bot API at base (DefaultAPIURL when empty).
// hc carries the per-call timeouts; nil means a client with a 30 s timeout.
func New(base, token string, hc *http.Client) (*Client, error) {
	if base == "" {
		base = DefaultAPIURL
	}
	base = strings.TrimRight(base, "/")
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	api, err := bot.New(token,
		bot.WithSkipGetMe(),
		bot.WithServerURL(base),
		bot.WithHTTPClient(hc.Timeout, hc),
		bot.WithErrorsHandler(func(error) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	c := &Client{api: api, base: base, token: token, http: hc, poll: pollClient(hc),
		Policy: retry.Policy{Attempts: 3, Backoff: 200 * time.Millisecond, MaxRetryAfter: 3 * time.Second}}
	c.SetResultHosts(nil)
	return c, nil
}

// SetResultHosts limits the outputs SendResult sends to https URLs on
// hosts and their subdomains (safehttp.DefaultHosts when empty), fetched
// from public addresses only. Call it before the client is used.
func (c *Client) SetResultHosts(hosts []string) {
	c.resultOK = func(raw string) error { return safehttp.Check(raw, hosts) }
	c.results = safehttp.NewClient(hosts)
}

// TrustResultOriginsForTests also allows outputs from the exact origins
// given (a fake's http://127.0.0.1:PORT), which SetResultHosts refuses.
// Tests only: production never calls it.
func (c *Client) TrustResultOriginsForTests(hosts, origins []string) {
	c.resultOK, c.results = safehttp.Trusting(hosts, origins)
}

// pollClient is hc for getUpdates, which Telegram holds for the whole
// long-poll timeout before it answers: a transport's bound on waiting for
// response headers (20 s in photobot's) would end every idle poll in an
// error. Each poll bounds itself instead.
func pollClient(hc *http.Client) *http.Client {
	p := *hc
	p.Timeout = 0
	if t, ok := hc.Transport.(*http.Transport); ok {
		t = t.Clone()
		t.ResponseHeaderTimeout = 0
		p.Transport = t
	}
	return &p
}

// Error is a failure answered by the Bot API, or a failure to reach it.
type Error struct {
	Method     string
	Code       int    // Bot API error_code; 0 when the server was not reached or answered garbage
	Desc       string // Bot API description, or the transport error
	RetryAfter time.Duration
	err        error
	// unreachable: the server was not reached (no answer at all).
	unreachable bool
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Desc)
	}
	return fmt.Sprintf("telegram %s: %s", e.Method, e.Desc)
}

func (e *Error) Unwrap() error { return e.err }

// Permanent reports whether retrying the same call cannot help: the
// request itself was refused (400, 401, 403, 404), as when the user blocked
// the bot or the file is too big. Everything else (429, 5xx, timeouts,
// network errors) is transient.
func (e *Error) Permanent() bool {
	switch e.Code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// IsPermanent reports whether err is a permanent Bot API failure.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// Unreachable reports whether the Bot API was not reached at all (a
// connection refused, a DNS failure, a timeout), as opposed to answering.
func (e *Error) Unreachable() bool { return e.unreachable }

// Is sorts the failure for the core: pipeline.ErrGone (the chat refuses
// messages), ErrTooBig, ErrFileGone (a file that cannot be had or sent),
// ErrAlreadyRefunded (a payment refunded before), ErrConfig (the request
// itself is wrong: a revoked token, a bad parameter).
func (e *Error) Is(target error) bool {
	d := strings.ToLower(e.Desc)
	switch target {
	case pipeline.ErrAlreadyRefunded:
		return e.alreadyRefunded()
	case pipeline.ErrGone:
		return e.Code == http.StatusForbidden || e.Code == http.StatusBadRequest && strings.Contains(d, "chat not found")
	case pipeline.ErrTooBig:
		return e.Code == http.StatusBadRequest && strings.Contains(d, "file is too big")
	case pipeline.ErrFileGone:
		return (e.Code == http.StatusBadRequest || e.Code == http.StatusNotFound) && e.fileMethod() &&
			!strings.Contains(d, "chat not found")
	case pipeline.ErrConfig:
		return e.Code == http.StatusUnauthorized || e.Code == http.StatusNotFound && !e.fileMethod() ||
			e.Code == http.StatusBadRequest && !e.fileMethod() && !strings.Contains(d, "chat not found") && !e.alreadyRefunded()
	}
	return false
}

// fileMethod: a call about a file, whose 400 or 404 is about that file.
func (e *Error) fileMethod() bool {
	switch e.Method {
	case "getFile", "download", "sendPhoto", "sendDocument", "sendMediaGroup", "download result":
		return true
	}
	return false
}

// classify turns an error of go-telegram/bot into an *Error with the token
// removed from its text.
func (c *Client) classify(method string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Method: method, err: err}
	var ue *url.Error
	e.unreachable = errors.As(err, &ue)
	var tooMany *bot.TooManyRequestsError
	var migrate *bot.MigrateError
	switch {
	case errors.As(err, &tooMany):
		e.Code = http.StatusTooManyRequests
		e.RetryAfter = time.Duration(tooMany.RetryAfter) * time.Second
	case errors.As(err, &migrate):
		e.Code = http.StatusBadRequest
	case errors.Is(err, bot.ErrorBadRequest):
		e.Code = http.StatusBadRequest
	case errors.Is(err, bot.ErrorUnauthorized):
		e.Code = http.StatusUnauthorized
	case errors.Is(err, bot.ErrorForbidden):
		e.Code = http.StatusForbidden
	case errors.Is(err, bot.ErrorNotFound):
		e.Code = http.StatusNotFound
	case errors.Is(err, bot.ErrorConflict):
		e.Code = http.StatusConflict
	}
	if e.unreachable {
		// Not the whole chain ("error do request for method ..., Post
		// <URL>: ..."): the URL holds the token, and the cause is what
		// the operator needs.
		e.Desc = "cannot reach " + c.base + ": " + c.redact(ue.Err.Error())
		return e
	}
	e.Desc = c.redact(err.Error())
	// go-telegram/bot prefixes the description with its sentinel's text.
	for _, p := range []string{"bad request, ", "unauthorized, ", "forbidden, ", "not found, ", "conflict, ", "too many requests, "} {
		if strings.HasPrefix(e.Desc, p) {
			e.Desc = strings.TrimPrefix(e.Desc, p)
			break
		}
	}
	return e
}

func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "<token>")
}

// do runs call, retrying transient failures a bounded number of times.
func (c *Client) do(ctx context.Context, method string, call func(context.Context) error) error {
	return c.Policy.Do(ctx, func(ctx context.Context) error { return c.classify(method, call(ctx)) },
		func(err error) (bool, time.Duration) {
			var e *Error
			if errors.As(err, &e) && (e.Permanent() || e.Code == http.StatusConflict) {
				return false, 0
			}
			if errors.As(err, &e) {
				return true, e.RetryAfter
			}
			return true, 0
		})
}
