// Package httpapi serves photobot's two webhooks as plain http.Handlers:
// the same handlers run in `photobot serve` and in Yandex Cloud Functions.
// It only checks, decodes, calls the core and encodes; what happens to a
// photo is decided in package pipeline.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// Paths of the webhooks.
const (
	TelegramPath  = "/webhook/telegram"
	ReplicatePath = "/webhook/replicate"
)

// Body limits. Telegram updates are a few kilobytes; a prediction carries
// its input and logs. Larger bodies are answered 413 unread.
const (
	MaxUpdateSize     = 1 << 20
	MaxPredictionSize = 4 << 20
)

// SecretHeader carries TG_WEBHOOK_SECRET on every Telegram webhook call.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Telegram serves Telegram's webhook (the spec's fn-handler).
func Telegram(b *pipeline.Bot, secret string, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !post(w, r) {
			return
		}
		got := r.Header.Get(SecretHeader)
		if secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			log.Warn("telegram webhook refused: wrong secret token", "remote", r.RemoteAddr)
			fail(w, http.StatusUnauthorized, "wrong secret token")
			return
		}
		body, ok := readBody(w, r, MaxUpdateSize)
		if !ok {
			return
		}
		u, err := telegram.DecodeUpdate(body)
		if err != nil {
			fail(w, http.StatusBadRequest, "malformed update")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), b.Deadline())
		defer cancel()
		resp, err := b.HandleUpdate(ctx, u)
		if err != nil {
			// Transient: Telegram will deliver the update again.
			fail(w, http.StatusServiceUnavailable, "temporarily unavailable, retry")
			return
		}
		if resp == nil || resp.Reply == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		// The reply rides in the answer: Telegram performs it, which
		// saves a round trip.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(telegram.WebhookAnswer(resp.Reply))
	})
}

// Replicate serves Replicate's webhook (the spec's fn-callback).
func Replicate(b *pipeline.Bot, v *replicate.Verifier, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !post(w, r) {
			return
		}
		body, ok := readBody(w, r, MaxPredictionSize)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), b.Deadline())
		defer cancel()
		if err := v.Verify(ctx, body, r.Header); err != nil {
			if errors.Is(err, replicate.ErrBadSignature) {
				log.Warn("replicate webhook refused", "err", err, "remote", r.RemoteAddr)
				fail(w, http.StatusUnauthorized, "bad signature")
				return
			}
			log.Error("cannot verify replicate webhooks", "err", err)
			fail(w, http.StatusServiceUnavailable, "cannot verify now, retry")
			return
		}
		p, err := replicate.DecodeWebhook(body)
		if err != nil {
			fail(w, http.StatusBadRequest, "malformed prediction")
			return
		}
		err = b.HandlePrediction(ctx, p)
		switch {
		case err == nil:
			w.WriteHeader(http.StatusOK)
		case errors.Is(err, pipeline.ErrInvalidPrediction):
			fail(w, http.StatusBadRequest, "invalid prediction id")
		case errors.Is(err, pipeline.ErrUnknownPrediction):
			fail(w, http.StatusNotFound, "unknown prediction, retry later")
		case errors.Is(err, pipeline.ErrInProgress):
			fail(w, http.StatusConflict, "being delivered, retry later")
		default:
			log.Warn("delivery failed; Replicate will retry", "prediction_id", p.ID, "err", err)
			fail(w, http.StatusServiceUnavailable, "temporarily unavailable, retry")
		}
	})
}

// New routes both webhooks and GET /healthz.
func New(b *pipeline.Bot, telegramSecret string, v *replicate.Verifier, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(TelegramPath, Telegram(b, telegramSecret, log))
	mux.Handle(ReplicatePath, Replicate(b, v, log))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	return Logged(log, mux)
}

func post(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "POST only")
		return false
	}
	return true
}

// readBody reads at most limit bytes; a larger body is answered 413, at
// once when Content-Length announces it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		fail(w, http.StatusRequestEntityTooLarge, "body too large")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			fail(w, http.StatusBadRequest, "cannot read body")
		}
		return nil, false
	}
	return body, true
}

func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Logged writes one line per request: path, status, duration.
func Logged(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		if r.URL.Path == "/healthz" {
			return
		}
		level := slog.LevelInfo
		if sw.code >= 500 {
			level = slog.LevelWarn
		}
		log.Log(r.Context(), level, "request", "path", r.URL.Path, "status", sw.code,
			"ms", float64(time.Since(start).Microseconds())/1000)
	})
}
