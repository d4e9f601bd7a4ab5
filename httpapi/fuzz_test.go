package httpapi_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/localstore"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// nowhere is an address where nothing listens: every call to Telegram or
// Replicate fails at once, as in an outage, and nothing leaves the machine.
const nowhere = "http://127.0.0.1:1"

const (
	fuzzSecret        = "fuzz-secret_1"
	fuzzReplicateKey  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	fuzzKnownTaskID   = "abc123"
	fuzzLogsForbidden = "123:FUZZ-token"
)

// diskImages keeps photos in the store and hands out a file name: the fuzz
// bot never gets as far as a model.
type diskImages struct{ store pipeline.Store }

func (d diskImages) StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (string, error) {
	if err := d.store.Put(ctx, key, body, size, contentType); err != nil {
		return "", err
	}
	return "https://example.invalid/" + key, nil
}

// fuzzBot is the real core on a local directory, with clients that reach
// nothing and tiny timeouts.
func fuzzBot(tb testing.TB, logs io.Writer) (*pipeline.Bot, pipeline.Store, *slog.Logger) {
	tb.Helper()
	st, err := localstore.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tg, err := telegram.New(nowhere, fuzzLogsForbidden, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tg.Attempts, tg.Backoff = 1, time.Millisecond
	rc := replicate.New(nowhere+"/v1", "r8_fuzz", nil)
	rc.Attempts, rc.Backoff = 1, time.Millisecond
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := pipeline.New(pipeline.Deps{Store: st, Images: diskImages{st}, Chat: tg, Models: rc, Log: log}, pipeline.Options{
		Effects: []pipeline.Effect{{ID: "restore", Title: pipeline.Text{"en": "Restore"}, Model: "acme/photo-restore",
			ImageField: "image", PromptField: "prompt"}},
		WebhookURL:  "https://bot.example/webhook/replicate",
		MaxActive:   2,
		DailyLimit:  50,
		CallTimeout: 50 * time.Millisecond,
		Deadline:    300 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b, st, log
}

// FuzzTelegramWebhook feeds the Telegram webhook arbitrary bodies with the
// right secret. Garbage (a body that is not an update) must get 4xx; an
// update gets 200 (with a well-formed reply, if any) or 503 (Telegram and
// Replicate are unreachable here). Nothing may panic or answer any other
// 5xx.
func FuzzTelegramWebhook(f *testing.F) {
	var logs bytes.Buffer
	b, _, log := fuzzBot(f, &logs)
	h := httpapi.Telegram(b, fuzzSecret, log)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, httpapi.TelegramPath, bytes.NewReader(body))
		req.Header.Set(httpapi.SecretHeader, fuzzSecret)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		u, err := telegram.DecodeUpdate(body)
		isUpdate := err == nil
		switch {
		case !isUpdate && (rec.Code < 400 || rec.Code > 499):
			t.Fatalf("garbage answered %d, want 4xx: %s", rec.Code, rec.Body)
		case isUpdate && rec.Code != http.StatusOK && rec.Code != http.StatusServiceUnavailable:
			t.Fatalf("update answered %d, want 200 or 503: %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && rec.Body.Len() > 0 {
			var reply struct {
				Method string `json:"method"`
				ChatID *int64 `json:"chat_id"`
				Text   string `json:"text"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || reply.Method != "sendMessage" || reply.ChatID == nil || reply.Text == "" {
				t.Fatalf("malformed webhook reply %s (%v)", rec.Body, err)
			}
			if u.Message == nil || *reply.ChatID != u.Message.ChatID {
				t.Fatalf("reply %s to a chat the update does not come from", rec.Body)
			}
		}
		if strings.Contains(logs.String(), fuzzLogsForbidden) {
			t.Fatalf("the bot token reached the logs")
		}
		logs.Reset()
	})
}

// signReplicate signs a Replicate webhook as the Standard Webhooks scheme says:
// HMAC-SHA256 over "id.timestamp.body" with the base64 key after whsec_.
func signReplicate(id string, ts time.Time, body []byte) string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fuzzReplicateKey, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts.Unix(), body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// FuzzReplicateWebhook feeds the Replicate webhook arbitrary bodies, signed
// correctly. A body that is not a prediction gets 400; a prediction gets
// 200, 400 (an id that is no id), 404 (no task), 409 or 503 (the task of
// abc123 and of the golden predictions exists, but Telegram is
// unreachable). Nothing may panic or answer 500.
func FuzzReplicateWebhook(f *testing.F) {
	var logs bytes.Buffer
	b, st, log := fuzzBot(f, &logs)
	v, err := replicate.NewVerifier(fuzzReplicateKey, nil)
	if err != nil {
		f.Fatal(err)
	}
	// Tasks for abc123 and for the ids of the golden predictions, so that
	// bodies reach the delivery.
	ids := []string{fuzzKnownTaskID}
	golden, _ := filepath.Glob("../testdata/replicate/prediction_*.json")
	for _, g := range golden {
		data, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		var p struct{ ID string }
		if json.Unmarshal(data, &p) == nil && p.ID != "" {
			ids = append(ids, p.ID)
		}
	}
	for _, id := range ids {
		task, _ := json.Marshal(pipeline.Task{ChatID: 42, FileID: "AgAC", Timestamp: time.Now().Unix(), MessageID: 7, Language: "en"})
		if err := st.Put(context.Background(), "tasks/"+id+".json", bytes.NewReader(task), int64(len(task)), "application/json"); err != nil {
			f.Fatal(err)
		}
	}
	h := httpapi.Replicate(b, v, log)
	f.Fuzz(func(t *testing.T, body []byte) {
		now := time.Now()
		req := httptest.NewRequest(http.MethodPost, httpapi.ReplicatePath, bytes.NewReader(body))
		req.Header.Set("webhook-id", "msg_fuzz")
		req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
		req.Header.Set("webhook-signature", signReplicate("msg_fuzz", now, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		var p replicate.Prediction
		isPrediction := json.Unmarshal(body, &p) == nil
		switch {
		case rec.Code == http.StatusUnauthorized:
			t.Fatalf("a correctly signed body was refused: %s", rec.Body)
		case !isPrediction && rec.Code != http.StatusBadRequest:
			t.Fatalf("garbage answered %d, want 400: %s", rec.Code, rec.Body)
		case isPrediction && !replicate.ValidID(p.ID) && rec.Code != http.StatusBadRequest:
			t.Fatalf("prediction id %q answered %d, want 400", p.ID, rec.Code)
		}
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable:
		default:
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
		logs.Reset()
	})
}
