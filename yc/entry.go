package yc

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
)

// The two functions' entries: index.go at the root of each zip (written by
// `make package`) calls Telegram or Replicate. Each function instance keeps
// what its setup builds (configuration, clients) between calls. Each
// function reads its own configuration: fn-callback's (config.Callback)
// lacks TG_WEBHOOK_SECRET, which Terraform does not give it.
var telegram, callback entry

// trustTestResults, nil in what ships, is set by a file the packaged
// functions' test adds to its build: its fake serves results on loopback.
var trustTestResults func(*app.Bot)

// entry is one function's handler, built on its first call.
type entry struct {
	once    sync.Once
	handler Handler
}

// get builds the handler of mode once: the Bot's webhook that mode serves,
// or, when the configuration is wrong, an answer that says so.
func (e *entry) get(mode config.Mode) Handler {
	e.once.Do(func() {
		cfg, err := config.Load(os.Getenv, mode)
		level := slog.LevelInfo
		if cfg != nil {
			level = cfg.LogLevel
		}
		log := app.Logger(os.Stdout, level)
		var b *app.Bot
		if err == nil {
			b, err = app.New(cfg, log, mode)
		}
		if err == nil && trustTestResults != nil {
			trustTestResults(b)
		}
		switch {
		case err != nil:
			// Every call says it, so the log shows it next to each
			// failure; Telegram and Replicate retry, so nothing is lost
			// once fixed.
			e.handler = misconfigured(log, err)
		case mode == config.Callback:
			e.handler = Wrap(b.ReplicateWebhook())
		default:
			e.handler = Wrap(b.TelegramWebhook())
		}
	})
	return e.handler
}

// Telegram is fn-handler: Telegram's webhook.
func Telegram(ctx context.Context, req *Request) (*Response, error) {
	return telegram.get(config.Serve)(ctx, req)
}

// Replicate is fn-callback: Replicate's webhook.
func Replicate(ctx context.Context, req *Request) (*Response, error) {
	return callback.get(config.Callback)(ctx, req)
}

// misconfigured answers every call 500 and logs why.
func misconfigured(log *slog.Logger, err error) Handler {
	return Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Error("function is misconfigured", "err", err.Error())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":"misconfigured"}`))
	}))
}
