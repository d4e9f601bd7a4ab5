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
// `make package`) calls Telegram or Replicate. The function instance keeps
// what setup builds (configuration, clients) between calls.
// trustTestResults, nil in what ships, is set by a file the packaged
// functions' test adds to its build: its fake serves results on loopback.
var trustTestResults func(*app.Bot)

var instance struct {
	once     sync.Once
	telegram Handler
	callback Handler
}

func setup() {
	instance.once.Do(func() {
		cfg, err := config.Load(os.Getenv, config.Serve)
		level := slog.LevelInfo
		if cfg != nil {
			level = cfg.LogLevel
		}
		log := app.Logger(os.Stdout, level)
		var b *app.Bot
		if err == nil {
			b, err = app.New(cfg, log, config.Serve)
		}
		if err == nil && trustTestResults != nil {
			trustTestResults(b)
		}
		if err != nil {
			// Every call says it, so the log shows it next to each
			// failure; Telegram and Replicate retry, so nothing is lost
			// once fixed.
			h := misconfigured(log, err)
			instance.telegram, instance.callback = h, h
			return
		}
		instance.telegram = Wrap(b.TelegramWebhook())
		instance.callback = Wrap(b.ReplicateWebhook())
	})
}

// Telegram is fn-handler: Telegram's webhook.
func Telegram(ctx context.Context, req *Request) (*Response, error) {
	setup()
	return instance.telegram(ctx, req)
}

// Replicate is fn-callback: Replicate's webhook.
func Replicate(ctx context.Context, req *Request) (*Response, error) {
	setup()
	return instance.callback(ctx, req)
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
