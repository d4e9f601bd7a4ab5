// Package testenv assembles photobot for end-to-end tests: a real MinIO
// bucket, fakes of Telegram and Replicate, and the webhooks served over
// HTTP exactly as `photobot serve` serves them.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/testclock"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/s3store"
)

// Fixed credentials of the fakes.
const (
	BotToken       = "123456:TEST-bot-token_0123456789abcdef"
	ReplicateToken = "r8_TESTreplicatetoken0123456789"
	WebhookSecret  = "tg-webhook-secret_42"
)

// Env is one photobot deployment under test.
type Env struct {
	T      testing.TB
	TG     *fake.Telegram
	RP     *fake.Replicate
	MinIO  *miniotest.Server
	Bucket string
	Store  *s3store.Store // the bucket, for assertions
	Bot    *app.Bot
	URL    string // PUBLIC_URL: where the webhooks are served
	Vars   map[string]string
	Logs   *Logs
	// Clock is the bot's clock (see testclock: early in a UTC day, so
	// that counts per day hold whatever the hour); the helpers date the
	// messages they make by it.
	Clock *testclock.Clock

	handler atomic.Value // http.Handler
}

// New starts a deployment. Options may change the environment variables
// before the bot is configured.
func New(t testing.TB, options ...func(vars map[string]string)) *Env {
	t.Helper()
	return NewWithCore(t, nil, options...)
}

// NewWithCore is New with a change to the core's options (its clock, its
// deadlines) before the core is built.
func NewWithCore(t testing.TB, core func(*pipeline.Options), options ...func(vars map[string]string)) *Env {
	t.Helper()
	e := &Env{T: t, Logs: &Logs{}, Clock: testclock.New()}
	t.Cleanup(func() {
		if t.Failed() { // what the bot said is where a failure is explained
			lines := strings.Split(strings.TrimSpace(e.Logs.String()), "\n")
			t.Logf("the bot's log (last %d lines):\n%s", min(len(lines), 80), strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	})
	e.MinIO = miniotest.Start(t)
	e.Bucket = e.MinIO.NewBucket(t)
	e.TG = fake.NewTelegram(t, BotToken)
	e.RP = fake.NewReplicate(t, ReplicateToken)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	e.Vars = map[string]string{
		"TG_BOT_TOKEN":          BotToken,
		"REPLICATE_API_TOKEN":   ReplicateToken,
		"REPLICATE_MODEL":       fake.DefaultModelOwner + "/" + fake.DefaultModelName,
		"REPLICATE_INPUT":       `{"scale": 2}`,
		"S3_BUCKET":             e.Bucket,
		"AWS_ACCESS_KEY_ID":     e.MinIO.AccessKey,
		"AWS_SECRET_ACCESS_KEY": e.MinIO.SecretKey,
		"S3_ENDPOINT_URL":       e.MinIO.Endpoint,
		"S3_REGION":             e.MinIO.Region,
		"PUBLIC_URL":            e.URL,
		"TG_WEBHOOK_SECRET":     WebhookSecret,
		"TELEGRAM_API_URL":      e.TG.URL,
		"REPLICATE_API_URL":     e.RP.URL,
		"LOG_LEVEL":             "debug",
	}
	for _, o := range options {
		o(e.Vars)
	}
	cfg, err := config.Load(func(k string) string { return e.Vars[k] }, config.Serve)
	if err != nil {
		t.Fatal(err)
	}
	e.Bot, err = app.NewWith(cfg, app.Logger(e.Logs, cfg.LogLevel), config.Serve, func(o *pipeline.Options) {
		o.Now = e.Clock.Now
		if core != nil {
			core(o)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Bot.SetRetryBackoff(10 * time.Millisecond)
	// The fake serves outputs over http on loopback, which the bot's
	// strict default refuses (see telegram's TestResultsAreFetchedSafely).
	e.Bot.TrustResultOriginsForTests(e.RP.URL)
	e.Store, err = s3store.New(s3store.Config{Endpoint: e.MinIO.Endpoint, Region: e.MinIO.Region, Bucket: e.Bucket,
		AccessKeyID: e.MinIO.AccessKey, SecretAccessKey: e.MinIO.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	e.handler.Store(e.Bot.Handler())
	return e
}

// Handler replaces the served handler (e.g. to put a fault in front of it).
func (e *Env) Handler(h http.Handler) { e.handler.Store(h) }

// Response is a webhook's answer.
type Response struct {
	Status int
	Body   []byte
}

// JSON decodes the answer's body.
func (r Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// PostUpdate delivers an update to the Telegram webhook the way Telegram
// does, with the secret header (none when secret is "").
func (e *Env) PostUpdate(update any, secret string) Response {
	e.T.Helper()
	body, err := json.Marshal(update)
	if err != nil {
		e.T.Fatal(err)
	}
	// Telegram knows the user's message: the bot's replies to it carry it
	// (reply_to_message), as presses of their buttons do.
	var u struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &u) == nil && len(u.Message) > 0 && secret == WebhookSecret {
		e.TG.AddUserMessage([]byte(u.Message))
	}
	return e.Post(httpapi.TelegramPath, body, map[string]string{httpapi.SecretHeader: secret})
}

// Post sends body to path with headers (empty values are left out).
func (e *Env) Post(path string, body []byte, headers map[string]string) Response {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Body: data}
}

var updateSeq atomic.Int64

// Photo is a photo message from a user, registered with the fake Telegram.
type Photo struct {
	UpdateID  int64
	ChatID    int64
	MessageID int
	Sizes     [][2]int // width, height of each size, in the order sent
	Largest   []byte   // the bytes of the largest size
	FileID    string   // of the largest size
	Caption   string
	Language  string
	Date      time.Time
}

// NewPhoto makes a photo message in chat with the usual three sizes.
func (e *Env) NewPhoto(chatID int64) *Photo {
	return e.PhotoWithSizes(chatID, [2]int{90, 60}, [2]int{320, 213}, [2]int{800, 533})
}

// PhotoWithSizes makes a photo message whose sizes are given in order; the
// largest (by area) is what the bot should take.
func (e *Env) PhotoWithSizes(chatID int64, sizes ...[2]int) *Photo {
	id := updateSeq.Add(1) + 700000000
	return &Photo{UpdateID: id, ChatID: chatID, MessageID: e.TG.NewMessageID(), Sizes: sizes, Language: "ru", Date: e.Clock.Now()}
}

// Update registers the photo's sizes with the fake Telegram and returns the
// update as Telegram would send it.
func (e *Env) Update(p *Photo) map[string]any {
	var sizes []map[string]any
	best := 0
	for i, s := range p.Sizes {
		if s[0]*s[1] > p.Sizes[best][0]*p.Sizes[best][1] {
			best = i
		}
	}
	for i, s := range p.Sizes {
		data := fake.JPEG(s[0], s[1])
		fileID := fmt.Sprintf("AgACAgIAAxkBAAI%d_%d", p.UpdateID, i)
		e.TG.AddFile(fileID, data)
		if i == best {
			p.Largest, p.FileID = data, fileID
		}
		sizes = append(sizes, map[string]any{"file_id": fileID, "file_unique_id": fmt.Sprintf("AQAD%d%d", p.UpdateID, i),
			"width": s[0], "height": s[1], "file_size": len(data)})
	}
	msg := map[string]any{
		"message_id": p.MessageID,
		"from":       map[string]any{"id": p.ChatID, "is_bot": false, "first_name": "Anna", "username": "anna", "language_code": p.Language},
		"chat":       map[string]any{"id": p.ChatID, "first_name": "Anna", "username": "anna", "type": "private"},
		"date":       p.Date.Unix(),
		"photo":      sizes,
	}
	if p.Caption != "" {
		msg["caption"] = p.Caption
	}
	return map[string]any{"update_id": p.UpdateID, "message": msg}
}

// Send delivers the photo's update with the right secret.
func (e *Env) Send(p *Photo) Response {
	e.T.Helper()
	return e.PostUpdate(e.Update(p), WebhookSecret)
}

// Keys lists the bucket's keys under prefix (for assertions only: the bot
// itself never lists).
func (e *Env) Keys(prefix string) []string {
	e.T.Helper()
	keys, err := e.Store.List(context.Background(), prefix)
	if err != nil {
		e.T.Fatal(err)
	}
	return keys
}

// Task reads tasks/{id}.json, or nil when absent.
func (e *Env) Task(id string) *pipeline.Task {
	e.T.Helper()
	data, _, err := e.Store.Get(context.Background(), "tasks/"+id+".json")
	if err != nil {
		return nil
	}
	var t pipeline.Task
	if err := json.Unmarshal(data, &t); err != nil {
		e.T.Fatalf("task %s: %v", id, err)
	}
	return &t
}

// Eventually polls cond until it holds or timeout passes.
func (e *Env) Eventually(what string, timeout time.Duration, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logs collects what the bot logged.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// Discard drops what is written (benchmarks).
	Discard bool
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Discard {
		return len(p), nil
	}
	return l.buf.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the log entries, each decoded.
func (l *Logs) Lines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
