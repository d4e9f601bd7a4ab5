package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
)

// countingReader counts what the handler reads of a body.
type countingReader struct {
	n int64
	r io.Reader
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func handler(t *testing.T) http.Handler {
	t.Helper()
	v, err := replicate.NewVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := inmem.NewStore()
	b, err := pipeline.New(pipeline.Deps{Store: st, Images: st, Chat: inmem.NewChat(), Models: &inmem.Models{}, Log: log},
		pipeline.Options{Effects: []pipeline.Effect{{ID: "x", Model: "acme/x", ImageField: "image"}}})
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.New(b, "secret", v, log)
}

func TestOversizedBodiesAreRefusedUnread(t *testing.T) {
	h := handler(t)
	for path, limit := range map[string]int64{httpapi.TelegramPath: httpapi.MaxUpdateSize, httpapi.ReplicatePath: httpapi.MaxPredictionSize} {
		// Announced by Content-Length: refused before reading anything.
		body := &countingReader{r: bytes.NewReader(make([]byte, limit+1))}
		req := httptest.NewRequest(http.MethodPost, path, body)
		req.ContentLength = limit + 1
		req.Header.Set(httpapi.SecretHeader, "secret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || body.n != 0 {
			t.Errorf("%s with Content-Length %d: %d after reading %d bytes; want 413 unread", path, limit+1, rec.Code, body.n)
		}
		// Chunked: read up to the limit, no further.
		body = &countingReader{r: bytes.NewReader(make([]byte, 4*limit))}
		req = httptest.NewRequest(http.MethodPost, path, body)
		req.ContentLength = -1
		req.Header.Set(httpapi.SecretHeader, "secret")
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || body.n > limit+64<<10 {
			t.Errorf("%s chunked: %d after reading %d bytes; want 413 near %d", path, rec.Code, body.n, limit)
		}
	}
}

func TestMethodsAndHealth(t *testing.T) {
	h := handler(t)
	for _, path := range []string{httpapi.TelegramPath, httpapi.ReplicatePath} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body)
	}
}

func TestSecretIsCheckedFirst(t *testing.T) {
	h := handler(t)
	// Garbage with a wrong secret gets 401, not 400: nothing is parsed.
	req := httptest.NewRequest(http.MethodPost, httpapi.TelegramPath, strings.NewReader("{not json"))
	req.Header.Set(httpapi.SecretHeader, "nope")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("got %d, want 401", rec.Code)
	}
}
