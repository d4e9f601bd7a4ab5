package fake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The model NewReplicate registers: an image model with inputs "image"
// (required), "scale" and "face_enhance".
const (
	DefaultModelOwner   = "acme"
	DefaultModelName    = "photo-restore"
	DefaultModelVersion = "9283608cc6b7be6b65a8e44983db012355fde4132009bf99d976b2f0896856a3"
)

// Prediction statuses.
const (
	StatusStarting   = "starting"
	StatusProcessing = "processing"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusCanceled   = "canceled"
	StatusAborted    = "aborted"
)

// ModelFunc computes a prediction: in is the prediction's input and
// fetched the bytes of the input image (nil when the input has no image).
// status is "succeeded", "failed" or "canceled" ("" means succeeded, or
// failed when errText is set); output is any JSON value (a URL string, a
// list of URLs, text chunks...).
type ModelFunc func(in map[string]any, fetched []byte) (status string, output any, errText string)

// Prediction is a prediction the fake Replicate created, with what the
// create request carried. Input is shared with the fake: do not modify it.
// It marshals to JSON as the API's prediction object.
type Prediction struct {
	ID           string
	Model        string // owner/name
	Version      string
	Input        map[string]any
	Webhook      string
	EventsFilter []string
	// Header is the create request's header (Prefer, Cancel-After, ...).
	Header      http.Header
	Status      string
	Output      any
	Error       string
	Logs        string
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	DataRemoved bool
	// Fetched holds the bytes the model read from the input image URL.
	Fetched []byte
	// URLs are the prediction's get, cancel, stream and web URLs.
	URLs map[string]string
}

// MarshalJSON renders p as the API renders a prediction.
func (p Prediction) MarshalJSON() ([]byte, error) {
	ts := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := t.UTC().Format("2006-01-02T15:04:05.000000Z")
		return &s
	}
	var errv any
	if p.Error != "" {
		errv = p.Error
	}
	v := struct {
		ID                  string             `json:"id"`
		Model               string             `json:"model"`
		Version             string             `json:"version"`
		Input               map[string]any     `json:"input"`
		Logs                string             `json:"logs"`
		Output              any                `json:"output"`
		DataRemoved         bool               `json:"data_removed"`
		Error               any                `json:"error"`
		Status              string             `json:"status"`
		CreatedAt           *string            `json:"created_at"`
		StartedAt           *string            `json:"started_at,omitempty"`
		CompletedAt         *string            `json:"completed_at,omitempty"`
		URLs                map[string]string  `json:"urls"`
		Metrics             map[string]float64 `json:"metrics,omitempty"`
		Webhook             string             `json:"webhook,omitempty"`
		WebhookEventsFilter []string           `json:"webhook_events_filter,omitempty"`
	}{p.ID, p.Model, p.Version, p.Input, p.Logs, p.Output, p.DataRemoved, errv, p.Status,
		ts(p.CreatedAt), ts(p.StartedAt), ts(p.CompletedAt), p.URLs, nil, p.Webhook, p.EventsFilter}
	if !p.CompletedAt.IsZero() {
		v.Metrics = map[string]float64{"total_time": p.CompletedAt.Sub(p.CreatedAt).Seconds()}
		if !p.StartedAt.IsZero() {
			v.Metrics["predict_time"] = p.CompletedAt.Sub(p.StartedAt).Seconds()
		}
	}
	if v.Input == nil {
		v.Input = map[string]any{}
	}
	return json.Marshal(v)
}

// Terminal reports whether status is final.
func terminal(status string) bool {
	switch status {
	case StatusSucceeded, StatusFailed, StatusCanceled, StatusAborted:
		return true
	}
	return false
}

// Delivery is one attempt to deliver a webhook.
type Delivery struct {
	PredictionID string
	// WebhookID is the webhook-id header: the same on every retry and
	// duplicate of one message.
	WebhookID string
	// Event is "start", "output" or "completed" ("" for DeliverWebhook).
	Event   string
	URL     string
	Attempt int // 1 for the first try of a message
	Status  int // the receiver's HTTP status; 0 when it could not be reached
	Err     error
	Body    []byte
	Header  http.Header // the headers sent, signature included
	At      time.Time
}

// Replicate is a fake Replicate HTTP API server.
//
// Endpoints (all but the outputs need Authorization: Bearer <token>; the
// legacy "Token <token>" is accepted too): POST /v1/predictions,
// POST /v1/models/{owner}/{name}/predictions, GET /v1/predictions/{id},
// POST /v1/predictions/{id}/cancel, GET /v1/webhooks/default/secret,
// POST /v1/files, GET /v1/files/{id}, GET /v1/files/{id}/download,
// GET /v1/models/{owner}/{name}, GET /v1/models/{owner}/{name}/versions/{id},
// GET /v1/account; model outputs are served without auth at
// <server>/output/<name>.
//
// Errors are problem JSON (title, detail, status) with Content-Type
// application/problem+json; a wrong token answers 401 "Unauthenticated",
// and FailNext or FailAlways with 402 (out of credit), 401 or 404 and no
// body answer Replicate's own bodies for those. Choices where the real API
// could not be copied exactly:
//   - An unknown or malformed version answers 422 {"title":"Invalid version
//     or not permitted","detail":"The specified version does not exist (or
//     perhaps you don't have permission to use it?)"} (a real capture); an
//     unknown model, prediction or file answers 404 {"title":"Not found",
//     "detail":"Not found."}.
//   - Input validation answers 422 "Input validation failed" with the
//     real API's detail and invalid_fields format (gojsonschema wording):
//     "- input: image is required\n", "- version is required\n",
//     "- input: Invalid type. Expected: object, given: string\n", bad
//     webhook_events_filter values, a webhook that is not an http(s) URL.
//     Only the model's ImageField is required, and the fields of
//     RequireInputs; other fields are not typed.
//   - A body that is not JSON answers 400 "Invalid JSON"; a file upload
//     without a "content" part 400 "Bad Request".
//   - urls.get of an uploaded file answers the file object (as the real
//     API does); its bytes are at urls.get + "/download" (with the bearer
//     token). A prediction input naming urls.get (or the download URL) is
//     read from the fake's store, as Replicate resolves its own files.
//   - Webhooks: "completed" is sent when no filter is given; "start" and
//     "output"/"logs" (one processing webhook before completion) only
//     when the filter names them, and they are not retried. The real API
//     sends all events when there is no filter. "start" is sent when the
//     model takes the prediction (after QueueTime), with status
//     "processing" and started_at set, as Cog does (replicate/cog,
//     python/cog/server/runner.py: PredictionEventHandler sets both, then
//     sends START); the docs say "immediately on prediction start".
//   - Cancel-After takes a Go duration ("5m", "90s") or seconds; when it
//     passes, a prediction still queued (QueueTime) becomes "aborted", a
//     running one "canceled". No 5 s minimum is enforced.
//   - Prefer: wait is not modelled: the create call answers at once, as
//     without it (photobot waits for webhooks).
//   - A cancel stops a starting or processing prediction at once: it is
//     "canceled" in the cancel's answer, and its completed webhook is sent
//     (the docs: completed is sent on succeeded, canceled or failed). With
//     FinishAfterCancel set, a cancel arrives too late to stop the model.
//     A cancel of a finished prediction answers 200 with it unchanged, as
//     the official clients document.
//   - POST /v1/models/{owner}/{name}/predictions accepts every model set
//     with SetModel (the real one only official models) and runs its
//     latest version; like the real API its predictions show version
//     "hidden".
type Replicate struct {
	// URL is the API base including /v1 (http://127.0.0.1:port/v1).
	URL string
	// Token is the API token the fake accepts.
	Token string
	// WebhookSecret is the account's signing secret: "whsec_" + base64 of
	// 32 random bytes. Webhooks are signed with whatever it holds.
	WebhookSecret string
	// ImageField is the input that holds the image URL (default "image").
	ImageField string
	// QueueTime is spent in "starting" before the model runs; RunTime in
	// "processing" before it completes. Both default to 0.
	QueueTime, RunTime time.Duration
	// WebhookRetries is how often a failed completed webhook is retried
	// (default 5), after WebhookBackoff (default 20 ms), doubling.
	WebhookRetries int
	WebhookBackoff time.Duration
	// WebhookTimeout bounds one delivery attempt (default 10 s).
	WebhookTimeout time.Duration
	// DuplicateWebhooks sends each completed webhook this many extra
	// times, concurrently, with the same webhook-id.
	DuplicateWebhooks int
	// WebhookBeforeResponse makes a create call run the model at once and
	// deliver the completed webhook, waiting for the receiver's first
	// answer, before it answers the create call (with the prediction as it
	// was created, status "starting"); retries of that webhook follow.
	WebhookBeforeResponse bool
	// FetchTimeout bounds the model's download of its input image
	// (default 30 s).
	FetchTimeout time.Duration
	// OutputPNG is what the default model's output URL serves.
	OutputPNG []byte
	// FinishAfterCancel, when > 0, makes a cancel of a processing
	// prediction lose the race against the model, as a real cancel can:
	// the cancel answers the prediction still processing, and
	// FinishAfterCancel later (or when its RunTime ends, if sooner) the
	// prediction ends as the model says, succeeded with its output, and its
	// completed webhook is sent. 0 (the default) stops it at once.
	FinishAfterCancel time.Duration

	srv     *httptest.Server
	base    string // server root, without /v1
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	busy    atomic.Int64 // models running, webhooks being sent or waiting for a retry
	faults  faults
	changed broadcast

	mu         sync.Mutex
	models     map[string]*rmodel   // owner/name
	versions   map[string]*rversion // version id
	preds      map[string]*rpred
	order      []string
	canceled   []string
	deliveries []Delivery
	files      map[string]*rfile
	outputs    map[string]rfile // by name under /output/
	modelFunc  ModelFunc
}

type rmodel struct {
	owner, name string
	latest      *rversion
}

type rversion struct {
	model     *rmodel
	id        string
	fields    []string
	required  []string // besides ImageField (RequireInputs)
	createdAt time.Time
}

type rpred struct {
	Prediction
	deadline time.Time
	cancelCh chan struct{} // closed by a cancel that stops it
	lateCh   chan struct{} // closed by a cancel that comes too late (FinishAfterCancel)
	late     time.Duration // FinishAfterCancel when lateCh was closed
}

type rfile struct {
	id, name, contentType string
	data                  []byte
	metadata              json.RawMessage
	createdAt             time.Time
}

// NewReplicate starts a fake Replicate API for token; it is closed (and its
// model runs and webhook deliveries stopped) when the test ends.
func NewReplicate(tb TB, token string) *Replicate {
	tb.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	r := &Replicate{
		Token:          token,
		WebhookSecret:  "whsec_" + base64.StdEncoding.EncodeToString(key),
		ImageField:     "image",
		WebhookRetries: 5,
		WebhookBackoff: 20 * time.Millisecond,
		WebhookTimeout: 10 * time.Second,
		FetchTimeout:   30 * time.Second,
		OutputPNG:      PNG(64, 48),
		models:         map[string]*rmodel{},
		versions:       map[string]*rversion{},
		preds:          map[string]*rpred{},
		files:          map[string]*rfile{},
		outputs:        map[string]rfile{},
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	r.SetModel(DefaultModelOwner, DefaultModelName, DefaultModelVersion, "image", "scale", "face_enhance")

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/predictions", r.endpoint("create", r.createVersion))
	mux.HandleFunc("POST /v1/models/{owner}/{name}/predictions", r.endpoint("create", r.createModel))
	mux.HandleFunc("GET /v1/predictions/{id}", r.endpoint("get", r.getPrediction))
	mux.HandleFunc("POST /v1/predictions/{id}/cancel", r.endpoint("cancel", r.cancelPrediction))
	mux.HandleFunc("GET /v1/webhooks/default/secret", r.endpoint("secret", r.secret))
	mux.HandleFunc("POST /v1/files", r.endpoint("files", r.uploadFile))
	mux.HandleFunc("GET /v1/files/{id}", r.endpoint("file", r.getFile))
	mux.HandleFunc("GET /v1/files/{id}/download", r.endpoint("file", r.downloadFile))
	mux.HandleFunc("GET /v1/models/{owner}/{name}", r.endpoint("model", r.getModel))
	mux.HandleFunc("GET /v1/models/{owner}/{name}/versions/{id}", r.endpoint("version", r.getVersion))
	mux.HandleFunc("GET /v1/account", r.endpoint("account", r.account))
	mux.HandleFunc("GET /output/{name}", r.serveOutput)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) { notFound(w) })
	r.srv = httptest.NewServer(mux)
	r.base = r.srv.URL
	r.URL = r.srv.URL + "/v1"
	tb.Cleanup(func() {
		r.stop()
		r.srv.Close()
		r.wg.Wait()
	})
	return r
}

// ---- test-side API ----

// SetModel registers (or updates) the model owner/name with a version
// whose OpenAPI schema lists inputFields (ImageField alone when none are
// given; ImageField is required when listed). versionID "" makes a random
// one. Earlier versions stay runnable. It returns the version id.
func (r *Replicate) SetModel(owner, name, versionID string, inputFields ...string) string {
	if versionID == "" {
		versionID = randString(hexDigits, 64)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(inputFields) == 0 {
		inputFields = []string{r.imageFieldLocked()}
	}
	m := r.models[owner+"/"+name]
	if m == nil {
		m = &rmodel{owner: owner, name: name}
		r.models[owner+"/"+name] = m
	}
	v := &rversion{model: m, id: versionID, fields: append([]string(nil), inputFields...), createdAt: time.Now()}
	m.latest = v
	r.versions[versionID] = v
	return versionID
}

// RequireInputs makes fields required inputs of the latest version of
// owner/name (set with SetModel), besides ImageField: its schema lists
// them as required, and a prediction without them answers 422 "- input:
// <field> is required".
func (r *Replicate) RequireInputs(owner, name string, fields ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.models[owner+"/"+name]; m != nil {
		m.latest.required = append(m.latest.required, fields...)
	}
}

func (r *Replicate) imageFieldLocked() string {
	if r.ImageField == "" {
		return "image"
	}
	return r.ImageField
}

// SetModelFunc replaces the default model (which succeeds with an output
// URL served by the fake) for predictions created afterwards; nil restores
// it. The input image is still fetched first: when that fails the
// prediction fails with "could not fetch input image: ..." and f is not
// called.
func (r *Replicate) SetModelFunc(f ModelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.modelFunc = f
}

// ServeOutput makes the fake serve data as contentType at
// <server>/output/<name> and returns that URL, for model functions that
// return their own outputs.
func (r *Replicate) ServeOutput(name, contentType string, data []byte) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs[name] = rfile{name: name, contentType: contentType, data: data}
	return r.base + "/output/" + url.PathEscape(name)
}

// ExpireOutputs does what Replicate does an hour after a prediction ends:
// output URLs answer 404, and finished predictions read output null and
// data_removed true.
func (r *Replicate) ExpireOutputs() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs = map[string]rfile{}
	for _, p := range r.preds {
		if terminal(p.Status) {
			p.Output, p.DataRemoved = nil, true
		}
	}
}

// FailNext makes the next request to endpoint answer status with body
// (problem JSON made from the status when body is ""; for 429 the real
// throttling body; for 401, 402 and 404 Replicate's own, see
// accountErrors). Endpoints: "create", "get", "cancel", "secret",
// "files" (upload), "file" (file get/download), "model",
// "version", "account", "output" (output downloads). Faults queue.
func (r *Replicate) FailNext(endpoint string, status int, body string) {
	r.faults.push(endpoint, fault{status: status, text: body})
}

// accountErrors are Replicate's answers when the account itself is
// refused, as captured from the real API: the token (401), the credit
// (402; before July 2025 accounts without billing got 402 "Billing
// required"), a model that is not there (404).
var accountErrors = map[int]string{
	http.StatusUnauthorized: `{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}`,
	http.StatusPaymentRequired: `{"title":"Insufficient credit","detail":"You have insufficient credit to run this model. ` +
		`Go to https://replicate.com/account/billing#billing to purchase credit. ` +
		`Once you purchase credit, please wait a few minutes before trying again.","status":402}`,
	http.StatusNotFound: `{"title":"Not found","detail":"Not found.","status":404}`,
}

// FailNextRetryAfter makes the next request to endpoint answer 429 with
// the throttling body and a Retry-After header of seconds.
func (r *Replicate) FailNextRetryAfter(endpoint string, seconds int) {
	r.faults.push(endpoint, fault{status: http.StatusTooManyRequests, retryAfter: seconds,
		text: fmt.Sprintf(`{"detail":"Request was throttled. Expected available in %d second%s.","status":429}`, seconds, plural(seconds))})
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// FailAlways makes every request to endpoint fail until ClearFaults.
func (r *Replicate) FailAlways(endpoint string, status int, body string) {
	r.faults.setAlways(endpoint, fault{status: status, text: body})
}

// ClearFaults removes every FailNext, FailAlways and Delay.
func (r *Replicate) ClearFaults() { r.faults.clear() }

// Delay stalls every request to endpoint for d before it is handled; a
// client that gives up ends the stall and the request has no effect.
func (r *Replicate) Delay(endpoint string, d time.Duration) { r.faults.setDelay(endpoint, d, false) }

// Predictions returns the predictions created so far, in order.
func (r *Replicate) Predictions() []Prediction {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Prediction, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.preds[id].Prediction)
	}
	return out
}

// Prediction returns the prediction id as it is now.
func (r *Replicate) Prediction(id string) (Prediction, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.preds[id]
	if !ok {
		return Prediction{}, false
	}
	return p.Prediction, true
}

// WaitPredictions waits until n predictions were created and returns
// them; it fails the test on timeout.
func (r *Replicate) WaitPredictions(tb testing.TB, n int, timeout time.Duration) []Prediction {
	tb.Helper()
	return waitUntil(tb, &r.changed, timeout, func() ([]Prediction, bool) {
		p := r.Predictions()
		return p, len(p) >= n
	}, func(p []Prediction) string {
		return fmt.Sprintf("fake replicate: waited %v for %d predictions, got %d", timeout, n, len(p))
	})
}

// WaitTerminal waits until prediction id is succeeded, failed, canceled or
// aborted and returns it; it fails the test on timeout.
func (r *Replicate) WaitTerminal(tb testing.TB, id string, timeout time.Duration) Prediction {
	tb.Helper()
	return waitUntil(tb, &r.changed, timeout, func() (Prediction, bool) {
		p, _ := r.Prediction(id)
		return p, terminal(p.Status)
	}, func(p Prediction) string {
		return fmt.Sprintf("fake replicate: waited %v for prediction %q to end; status %q", timeout, id, p.Status)
	})
}

// Canceled returns the ids of the predictions whose cancel endpoint was
// called, in order.
func (r *Replicate) Canceled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.canceled...)
}

// Deliveries returns every webhook delivery attempt so far, in order.
func (r *Replicate) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// WaitIdle waits until no model runs and no webhook is being delivered or
// waits for a retry: from then on Replicate sends nothing unless the test
// makes it. Assert that something did not happen after it.
func (r *Replicate) WaitIdle(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	waitUntil(tb, &r.changed, timeout, func() (int64, bool) {
		n := r.busy.Load()
		return n, n == 0
	}, func(n int64) string {
		return fmt.Sprintf("fake replicate: still busy after %v: %d model runs and webhooks under way", timeout, n)
	})
}

// WaitDeliveries waits until n delivery attempts were made and returns
// them; it fails the test on timeout, listing the attempts.
func (r *Replicate) WaitDeliveries(tb testing.TB, n int, timeout time.Duration) []Delivery {
	tb.Helper()
	return waitUntil(tb, &r.changed, timeout, func() ([]Delivery, bool) {
		d := r.Deliveries()
		return d, len(d) >= n
	}, func(ds []Delivery) string {
		var b strings.Builder
		fmt.Fprintf(&b, "fake replicate: waited %v for %d webhook deliveries, got %d:", timeout, n, len(ds))
		for _, d := range ds {
			fmt.Fprintf(&b, "\n  %s %s %s attempt %d -> %d %v", d.At.Format("15:04:05.000"), d.PredictionID, d.Event, d.Attempt, d.Status, d.Err)
		}
		return b.String()
	})
}

func waitUntil[T any](tb testing.TB, b *broadcast, timeout time.Duration, get func() (T, bool), msg func(T) string) T {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := b.wait()
		v, ok := get()
		if ok {
			return v
		}
		select {
		case <-changed:
		case <-deadline.C:
			v, _ = get()
			tb.Fatal(msg(v))
			return v
		}
	}
}

// Sign returns the webhook-signature header value ("v1,<base64>") for a
// message id, timestamp and body, signed with WebhookSecret as the
// Standard Webhooks scheme says: HMAC-SHA256 over "id.timestamp.body".
func (r *Replicate) Sign(id string, ts time.Time, body []byte) string {
	r.mu.Lock()
	secret := r.WebhookSecret
	r.mu.Unlock()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		key = []byte(secret)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// DeliverWebhook signs and posts prediction (a Prediction, raw JSON bytes,
// or any value to marshal) to url once, with a new webhook-id, and returns
// the recorded attempt.
func (r *Replicate) DeliverWebhook(url string, prediction any) Delivery {
	body, id := webhookBody(prediction)
	return r.attempt(url, newWebhookID(), "", id, body, 1)
}

// RedeliverWebhook posts a recorded delivery again, to the same URL with
// the same body and webhook-id (a fresh timestamp and signature), as a
// duplicate delivery from Replicate looks.
func (r *Replicate) RedeliverWebhook(d Delivery) Delivery {
	return r.attempt(d.URL, d.WebhookID, d.Event, d.PredictionID, d.Body, d.Attempt+1)
}

func webhookBody(prediction any) (body []byte, id string) {
	switch x := prediction.(type) {
	case []byte:
		body = x
	case json.RawMessage:
		body = x
	case string:
		body = []byte(x)
	default:
		var err error
		if body, err = json.Marshal(prediction); err != nil {
			panic("fake replicate: DeliverWebhook: " + err.Error())
		}
	}
	var p struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &p)
	return body, p.ID
}

func newWebhookID() string { return "msg_" + randString(base62, 27) }

// ---- HTTP side ----

type problem struct {
	Title         string         `json:"title,omitempty"`
	Detail        string         `json:"detail"`
	Status        int            `json:"status"`
	InvalidFields []invalidField `json:"invalid_fields,omitempty"`
}

type invalidField struct {
	Type        string `json:"type"`
	Field       string `json:"field"`
	Description string `json:"description"`
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeProblem(w http.ResponseWriter, p problem) {
	writeJSON(w, p.Status, "application/problem+json", p)
}

func notFound(w http.ResponseWriter) {
	writeProblem(w, problem{Title: "Not found", Detail: "Not found.", Status: http.StatusNotFound})
}

func (r *Replicate) authorized(req *http.Request) bool {
	h := req.Header.Get("Authorization")
	for _, scheme := range []string{"Bearer ", "Token "} {
		if tok, ok := strings.CutPrefix(h, scheme); ok && r.Token != "" &&
			hmac.Equal([]byte(strings.TrimSpace(tok)), []byte(r.Token)) {
			return true
		}
	}
	return false
}

// endpoint wraps h with auth, Delay and faults of the named endpoint.
func (r *Replicate) endpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !r.authorized(req) {
			writeProblem(w, problem{Title: "Unauthenticated", Detail: "You did not pass a valid authentication token",
				Status: http.StatusUnauthorized})
			return
		}
		if !r.stall(w, req, name) {
			h(w, req)
		}
	}
}

// stall applies Delay and faults; it reports whether it answered.
func (r *Replicate) stall(w http.ResponseWriter, req *http.Request, name string) bool {
	if d := r.faults.delayOf(name, false); d > 0 && !sleep(req.Context(), r.ctx.Done(), d) {
		return true
	}
	ft, ok := r.faults.take(name)
	if !ok {
		return false
	}
	body := ft.text
	if body == "" {
		if b, ok := accountErrors[ft.status]; ok {
			body = b
		} else if ft.status == http.StatusTooManyRequests {
			body = `{"detail":"Request was throttled. Expected available in 1 second.","status":429}`
		} else {
			b, _ := json.Marshal(problem{Title: http.StatusText(ft.status), Detail: http.StatusText(ft.status), Status: ft.status})
			body = string(b)
		}
	}
	ctype := "text/plain; charset=utf-8"
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		ctype = "application/problem+json"
	}
	w.Header().Set("Content-Type", ctype)
	if ft.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ft.retryAfter))
	}
	w.WriteHeader(ft.status)
	_, _ = io.WriteString(w, body)
	return true
}

var (
	hex64        = regexp.MustCompile(`^[0-9a-f]{64}$`)
	versionRef   = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*):([0-9a-f]{64})$`)
	eventsFilter = []string{"start", "output", "logs", "completed"}
)

func (r *Replicate) createVersion(w http.ResponseWriter, req *http.Request) { r.create(w, req, "", "") }

func (r *Replicate) createModel(w http.ResponseWriter, req *http.Request) {
	r.create(w, req, req.PathValue("owner"), req.PathValue("name"))
}

// runConfig is the configuration a prediction runs with, read at creation.
type runConfig struct {
	imageField        string
	queueTime         time.Duration
	runTime           time.Duration
	fn                ModelFunc
	retries           int
	backoff           time.Duration
	duplicates        int
	beforeResponse    bool
	fetchTimeout      time.Duration
	outputPNG         []byte
	wantStart, wantIO bool
	wantCompleted     bool
}

func (r *Replicate) configLocked() runConfig {
	return runConfig{imageField: r.imageFieldLocked(), queueTime: r.QueueTime, runTime: r.RunTime, fn: r.modelFunc,
		retries: r.WebhookRetries, backoff: r.WebhookBackoff, duplicates: r.DuplicateWebhooks,
		beforeResponse: r.WebhookBeforeResponse, fetchTimeout: r.FetchTimeout, outputPNG: r.OutputPNG}
}

// wantsCompleted reports whether a prediction gets a completed webhook.
func wantsCompleted(webhook string, filter []string) bool {
	return webhook != "" && (len(filter) == 0 || contains(filter, "completed"))
}

func jsonTypeName(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "null"
	case raw[0] == '"':
		return "string"
	case raw[0] == '[':
		return "array"
	case raw[0] == '{':
		return "object"
	case raw[0] == 't' || raw[0] == 'f':
		return "boolean"
	case raw[0] == 'n':
		return "null"
	case bytes.ContainsAny(raw, ".eE"):
		return "number"
	}
	return "integer"
}

func (r *Replicate) create(w http.ResponseWriter, req *http.Request, owner, name string) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	var fields map[string]json.RawMessage
	if err != nil || json.Unmarshal(body, &fields) != nil || fields == nil {
		writeProblem(w, problem{Title: "Invalid JSON", Detail: "The request body is not valid JSON.", Status: http.StatusBadRequest})
		return
	}
	invalidVersion := problem{Title: "Invalid version or not permitted",
		Detail: "The specified version does not exist (or perhaps you don't have permission to use it?)", Status: 422}
	var errs []invalidField
	r.mu.Lock()
	var v *rversion
	if owner == "" {
		var ref string
		if raw, ok := fields["version"]; !ok {
			errs = append(errs, invalidField{"required", "", "version is required"})
		} else if json.Unmarshal(raw, &ref) != nil {
			errs = append(errs, invalidField{"invalid_type", "version", "Invalid type. Expected: string, given: " + jsonTypeName(raw)})
		} else {
			id := ref
			if m := versionRef.FindStringSubmatch(ref); m != nil {
				id = m[3]
			}
			if v = r.versions[id]; v == nil || !hex64.MatchString(id) {
				r.mu.Unlock()
				writeProblem(w, invalidVersion)
				return
			}
		}
	} else if m := r.models[owner+"/"+name]; m != nil {
		v = m.latest
	} else {
		r.mu.Unlock()
		notFound(w)
		return
	}
	cfg := r.configLocked()
	r.mu.Unlock()

	var input map[string]any
	if raw, ok := fields["input"]; !ok {
		errs = append(errs, invalidField{"required", "", "input is required"})
	} else if t := jsonTypeName(raw); t != "object" {
		errs = append(errs, invalidField{"invalid_type", "input", "Invalid type. Expected: object, given: " + t})
	} else {
		_ = json.Unmarshal(raw, &input)
		if v != nil && contains(v.fields, cfg.imageField) {
			if s, _ := input[cfg.imageField].(string); s == "" {
				errs = append(errs, invalidField{"required", "input", cfg.imageField + " is required"})
			}
		}
		for _, f := range requiredOf(v) {
			if _, ok := input[f]; !ok {
				errs = append(errs, invalidField{"required", "input", f + " is required"})
			}
		}
	}
	var webhook string
	if raw, ok := fields["webhook"]; ok && jsonTypeName(raw) != "null" {
		if json.Unmarshal(raw, &webhook) != nil {
			errs = append(errs, invalidField{"invalid_type", "webhook", "Invalid type. Expected: string, given: " + jsonTypeName(raw)})
		} else if u, err := url.Parse(webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, invalidField{"format", "webhook", "Does not match format 'uri'"})
		}
	}
	var filter []string
	if raw, ok := fields["webhook_events_filter"]; ok && jsonTypeName(raw) != "null" {
		if json.Unmarshal(raw, &filter) != nil {
			errs = append(errs, invalidField{"invalid_type", "webhook_events_filter", "Invalid type. Expected: array, given: " + jsonTypeName(raw)})
		}
		for i, e := range filter {
			if !contains(eventsFilter, e) {
				f := fmt.Sprintf("webhook_events_filter.%d", i)
				errs = append(errs, invalidField{"enum", f, f + ` must be one of the following: "start", "output", "logs", "completed"`})
			}
		}
	}
	if len(errs) > 0 {
		var detail strings.Builder
		for _, e := range errs {
			if e.Field == "" {
				fmt.Fprintf(&detail, "- %s\n", e.Description)
			} else {
				fmt.Fprintf(&detail, "- %s: %s\n", e.Field, e.Description)
			}
		}
		writeProblem(w, problem{Title: "Input validation failed", Detail: detail.String(), Status: 422, InvalidFields: errs})
		return
	}
	cfg.wantStart = webhook != "" && contains(filter, "start")
	cfg.wantIO = webhook != "" && (contains(filter, "output") || contains(filter, "logs"))
	cfg.wantCompleted = wantsCompleted(webhook, filter)

	now := time.Now()
	id := randString(lowerAlnum, 26)
	version := v.id
	if owner != "" {
		version = "hidden" // what the API shows for predictions of official models
	}
	p := &rpred{
		Prediction: Prediction{ID: id, Model: v.model.owner + "/" + v.model.name, Version: version, Input: input,
			Webhook: webhook, EventsFilter: filter, Header: req.Header.Clone(), Status: StatusStarting, CreatedAt: now,
			URLs: map[string]string{
				"get":    r.URL + "/predictions/" + id,
				"cancel": r.URL + "/predictions/" + id + "/cancel",
				"stream": r.base + "/stream/" + id,
				"web":    "https://replicate.com/p/" + id,
			}},
		cancelCh: make(chan struct{}),
		lateCh:   make(chan struct{}),
	}
	if d, ok := parseCancelAfter(req.Header.Get("Cancel-After")); ok {
		p.deadline = now.Add(d)
	}
	r.mu.Lock()
	r.preds[id] = p
	r.order = append(r.order, id)
	created, _ := json.Marshal(p.Prediction)
	r.mu.Unlock()
	r.changed.signal()

	if cfg.beforeResponse {
		firstAnswer := make(chan struct{})
		r.mu.Lock()
		p.Status, p.StartedAt = StatusProcessing, time.Now()
		r.mu.Unlock()
		status, output, errText, fetched := r.execute(id, input, cfg)
		r.finish(p, status, output, errText, fetched, cfg, firstAnswer)
		select {
		case <-firstAnswer:
		case <-req.Context().Done():
		case <-r.ctx.Done():
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(created)
		return
	}

	r.working(1)
	go r.run(p, cfg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(created)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseCancelAfter(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// working counts a model run or a webhook's deliveries starting (1) or
// ending (-1).
func (r *Replicate) working(n int) {
	if n > 0 {
		r.wg.Add(n)
		r.busy.Add(int64(n))
		return
	}
	r.busy.Add(int64(n))
	r.wg.Add(n)
	r.changed.signal()
}

// run takes a prediction from starting to its end.
func (r *Replicate) run(p *rpred, cfg runConfig) {
	defer r.working(-1)
	if !r.pause(p, cfg.queueTime, false, cfg) {
		return
	}
	r.mu.Lock()
	if terminal(p.Status) {
		r.mu.Unlock()
		return
	}
	p.Status, p.StartedAt, p.Logs = StatusProcessing, time.Now(), "Running prediction...\n"
	start, _ := json.Marshal(p.Prediction)
	r.mu.Unlock()
	r.changed.signal()
	if cfg.wantStart {
		// Cog sends it as the model takes the prediction (its
		// PredictionEventHandler sets processing and started_at first).
		r.attempt(p.Webhook, newWebhookID(), "start", p.ID, start, 1)
	}

	status, output, errText, fetched := r.execute(p.ID, p.Input, cfg)
	if cfg.wantIO {
		r.mu.Lock()
		body, _ := json.Marshal(p.Prediction)
		r.mu.Unlock()
		r.attempt(p.Webhook, newWebhookID(), "output", p.ID, body, 1)
	}
	if !r.pause(p, cfg.runTime, true, cfg) {
		return
	}
	r.finish(p, status, output, errText, fetched, cfg, nil)
}

// pause waits d while p is running; it reports false when p ended
// meanwhile (canceled, past its Cancel-After deadline, or shutdown).
func (r *Replicate) pause(p *rpred, d time.Duration, started bool, cfg runConfig) bool {
	var deadline <-chan time.Time
	if !p.deadline.IsZero() {
		t := time.NewTimer(time.Until(p.deadline))
		defer t.Stop()
		deadline = t.C
	}
	var elapsed <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	if d <= 0 && (p.deadline.IsZero() || time.Now().Before(p.deadline)) {
		select {
		case <-p.cancelCh:
			return false
		default:
			return r.ctx.Err() == nil
		}
	}
	late := p.lateCh
	if !started {
		late = nil
	}
	var lateDone <-chan time.Time
	for {
		select {
		case <-elapsed:
			return true
		case <-late:
			r.mu.Lock()
			t := time.NewTimer(p.late)
			r.mu.Unlock()
			defer t.Stop()
			late, lateDone = nil, t.C
			continue
		case <-lateDone:
			return true
		case <-deadline:
			status := StatusAborted
			if started {
				status = StatusCanceled
			}
			r.finish(p, status, nil, "", nil, cfg, nil)
			return false
		case <-p.cancelCh:
			return false
		case <-r.ctx.Done():
			return false
		}
	}
}

// execute fetches the input image and runs the model function.
func (r *Replicate) execute(id string, in map[string]any, cfg runConfig) (status string, output any, errText string, fetched []byte) {
	if s, _ := in[cfg.imageField].(string); s != "" {
		data, err := r.fetchInput(s, cfg.fetchTimeout)
		if err != nil {
			return StatusFailed, nil, "could not fetch input image: " + err.Error(), nil
		}
		fetched = data
	}
	if cfg.fn == nil {
		name := id + ".png"
		r.mu.Lock()
		r.outputs[name] = rfile{name: name, contentType: "image/png", data: cfg.outputPNG}
		r.mu.Unlock()
		return StatusSucceeded, r.base + "/output/" + name, "", fetched
	}
	status, output, errText = cfg.fn(in, fetched)
	if status == "" {
		status = StatusSucceeded
		if errText != "" {
			status = StatusFailed
		}
	}
	return status, output, errText, fetched
}

// fetchInput reads a model input file: an http(s) URL, a data URI, or a
// file of the fake's Files API.
func (r *Replicate) fetchInput(raw string, timeout time.Duration) ([]byte, error) {
	if strings.HasPrefix(raw, "data:") {
		meta, data, ok := strings.Cut(strings.TrimPrefix(raw, "data:"), ",")
		if !ok {
			return nil, errors.New("malformed data URI")
		}
		if strings.HasSuffix(meta, ";base64") {
			return base64.StdEncoding.DecodeString(data)
		}
		s, err := url.PathUnescape(data)
		return []byte(s), err
	}
	if rest, ok := strings.CutPrefix(raw, r.URL+"/files/"); ok {
		r.mu.Lock()
		f := r.files[strings.TrimSuffix(rest, "/download")]
		r.mu.Unlock()
		if f == nil {
			return nil, errors.New("404 Not Found")
		}
		return f.data, nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, errors.New("invalid URL")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may be presigned: keep it out of the error
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// finish makes p terminal (unless it already is) and sends its completed
// webhook. firstAnswer, when not nil, is closed after the first delivery
// attempt (at once when there is none).
func (r *Replicate) finish(p *rpred, status string, output any, errText string, fetched []byte, cfg runConfig, firstAnswer chan struct{}) {
	r.mu.Lock()
	body, ok := r.finishLocked(p, status, output, errText, fetched)
	r.mu.Unlock()
	r.afterFinish(p, ok, body, cfg, firstAnswer)
}

// finishLocked records p's end; ok is false when p had already ended.
func (r *Replicate) finishLocked(p *rpred, status string, output any, errText string, fetched []byte) (body []byte, ok bool) {
	if terminal(p.Status) {
		return nil, false
	}
	p.Status, p.Output, p.Error, p.CompletedAt = status, output, errText, time.Now()
	if fetched != nil {
		p.Fetched = fetched
	}
	if status == StatusAborted {
		p.StartedAt = time.Time{}
	}
	switch status {
	case StatusSucceeded:
		p.Logs += "Prediction succeeded.\n"
	case StatusFailed:
		p.Logs += errText + "\n"
	}
	body, _ = json.Marshal(p.Prediction)
	return body, true
}

func (r *Replicate) afterFinish(p *rpred, ok bool, body []byte, cfg runConfig, firstAnswer chan struct{}) {
	if ok {
		r.changed.signal()
	}
	if ok && cfg.wantCompleted {
		r.sendCompleted(p.ID, p.Webhook, body, cfg, firstAnswer)
	} else if firstAnswer != nil {
		close(firstAnswer)
	}
}

// sendCompleted delivers a terminal webhook with retries, plus the
// configured duplicates, each in its own goroutine.
func (r *Replicate) sendCompleted(predID, webhook string, body []byte, cfg runConfig, firstAnswer chan struct{}) {
	msgID := newWebhookID()
	for i := 0; i <= cfg.duplicates; i++ {
		var first chan struct{}
		if i == 0 {
			first = firstAnswer
		}
		r.working(1)
		go func() {
			defer r.working(-1)
			backoff := cfg.backoff
			for attempt := 1; ; attempt++ {
				d := r.attempt(webhook, msgID, "completed", predID, body, attempt)
				if first != nil {
					close(first)
					first = nil
				}
				if (d.Err == nil && d.Status >= 200 && d.Status <= 299) || attempt > cfg.retries {
					return
				}
				if !sleep(r.ctx, nil, backoff) {
					return
				}
				backoff *= 2
			}
		}()
	}
}

// attempt posts one signed webhook and records it.
func (r *Replicate) attempt(target, msgID, event, predID string, body []byte, n int) Delivery {
	r.mu.Lock()
	timeout := r.WebhookTimeout
	r.mu.Unlock()
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	now := time.Now()
	d := Delivery{PredictionID: predID, WebhookID: msgID, Event: event, URL: target, Attempt: n, Body: body, At: now,
		Header: http.Header{
			"Content-Type":      {"application/json"},
			"Webhook-Id":        {msgID},
			"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
			"Webhook-Signature": {r.Sign(msgID, now, body)},
		}}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err == nil {
		req.Header = d.Header.Clone()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			d.Status = resp.StatusCode
		}
	}
	d.Err = err
	r.mu.Lock()
	r.deliveries = append(r.deliveries, d)
	r.mu.Unlock()
	r.changed.signal()
	return d
}

func (r *Replicate) lookup(w http.ResponseWriter, req *http.Request) *rpred {
	r.mu.Lock()
	p := r.preds[req.PathValue("id")]
	r.mu.Unlock()
	if p == nil {
		notFound(w)
	}
	return p
}

func (r *Replicate) getPrediction(w http.ResponseWriter, req *http.Request) {
	if p := r.lookup(w, req); p != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		writeJSON(w, http.StatusOK, "application/json", p.Prediction)
	}
}

func (r *Replicate) cancelPrediction(w http.ResponseWriter, req *http.Request) {
	p := r.lookup(w, req)
	if p == nil {
		return
	}
	r.mu.Lock()
	r.canceled = append(r.canceled, p.ID)
	cfg := r.configLocked()
	cfg.wantCompleted = wantsCompleted(p.Webhook, p.EventsFilter)
	var body []byte
	ok := !terminal(p.Status)
	switch {
	case ok && r.FinishAfterCancel > 0 && p.Status == StatusProcessing:
		if p.late == 0 {
			p.late = r.FinishAfterCancel
			close(p.lateCh)
		}
		ok = false
	case ok:
		close(p.cancelCh)
		body, ok = r.finishLocked(p, StatusCanceled, nil, "", nil)
	}
	r.mu.Unlock()
	r.afterFinish(p, ok, body, cfg, nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	writeJSON(w, http.StatusOK, "application/json", p.Prediction)
}

func (r *Replicate) secret(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, "application/json", map[string]string{"key": r.WebhookSecret})
}

func (r *Replicate) account(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, "application/json", map[string]string{
		"type": "user", "username": "photobot", "name": "Photo Bot", "github_url": "https://github.com/photobot"})
}

func (r *Replicate) fileObject(f *rfile) any {
	sum := sha256.Sum256(f.data)
	md := md5.Sum(f.data)
	meta := f.metadata
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	return struct {
		ID          string            `json:"id"`
		Name        string            `json:"name"`
		ContentType string            `json:"content_type"`
		Size        int               `json:"size"`
		Etag        string            `json:"etag"`
		Checksums   map[string]string `json:"checksums"`
		Metadata    json.RawMessage   `json:"metadata"`
		CreatedAt   string            `json:"created_at"`
		ExpiresAt   string            `json:"expires_at"`
		URLs        map[string]string `json:"urls"`
	}{f.id, f.name, f.contentType, len(f.data), hex.EncodeToString(md[:]),
		map[string]string{"sha256": hex.EncodeToString(sum[:]), "md5": hex.EncodeToString(md[:])}, meta,
		f.createdAt.UTC().Format(time.RFC3339Nano), f.createdAt.Add(24 * time.Hour).UTC().Format(time.RFC3339Nano),
		map[string]string{"get": r.URL + "/files/" + f.id}}
}

func (r *Replicate) uploadFile(w http.ResponseWriter, req *http.Request) {
	badRequest := func(detail string) {
		writeProblem(w, problem{Title: "Bad Request", Detail: detail, Status: http.StatusBadRequest})
	}
	mr, err := req.MultipartReader()
	if err != nil {
		badRequest("The request must be multipart/form-data.")
		return
	}
	f := &rfile{id: randString(lowerAlnum, 26), createdAt: time.Now()}
	var hasContent bool
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			badRequest("Malformed multipart/form-data body.")
			return
		}
		data, err := io.ReadAll(io.LimitReader(part, 100<<20))
		if err != nil {
			badRequest("Malformed multipart/form-data body.")
			return
		}
		switch part.FormName() {
		case "content":
			hasContent = true
			f.data, f.name = data, part.FileName()
			if ct := part.Header.Get("Content-Type"); ct != "" {
				f.contentType = ct
			}
		case "filename":
			f.name = string(data)
		case "type":
			f.contentType = string(data)
		case "metadata":
			if !json.Valid(data) {
				badRequest("metadata must be valid JSON.")
				return
			}
			f.metadata = data
		}
	}
	if !hasContent {
		badRequest("Missing required field: content")
		return
	}
	if f.contentType == "" {
		f.contentType = "application/octet-stream"
	}
	if f.name == "" {
		f.name = "file"
	}
	r.mu.Lock()
	r.files[f.id] = f
	r.mu.Unlock()
	writeJSON(w, http.StatusCreated, "application/json", r.fileObject(f))
}

func (r *Replicate) fileOf(w http.ResponseWriter, req *http.Request) *rfile {
	r.mu.Lock()
	f := r.files[req.PathValue("id")]
	r.mu.Unlock()
	if f == nil {
		notFound(w)
	}
	return f
}

func (r *Replicate) getFile(w http.ResponseWriter, req *http.Request) {
	if f := r.fileOf(w, req); f != nil {
		writeJSON(w, http.StatusOK, "application/json", r.fileObject(f))
	}
}

func (r *Replicate) downloadFile(w http.ResponseWriter, req *http.Request) {
	if f := r.fileOf(w, req); f != nil {
		serveBytes(w, req, f.contentType, f.data)
	}
}

func serveBytes(w http.ResponseWriter, req *http.Request, contentType string, data []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func (r *Replicate) serveOutput(w http.ResponseWriter, req *http.Request) {
	if r.stall(w, req, "output") {
		return
	}
	r.mu.Lock()
	f, ok := r.outputs[req.PathValue("name")]
	r.mu.Unlock()
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	ctype := f.contentType
	if ctype == "" {
		ctype = mime.TypeByExtension(".png")
	}
	serveBytes(w, req, ctype, f.data)
}

// openAPISchema is the part of a Cog schema photobot reads.
func (r *Replicate) openAPISchema(v *rversion) any {
	image := r.imageFieldLocked()
	props := map[string]any{}
	var required []string
	for i, f := range v.fields {
		prop := map[string]any{"type": "string", "title": titleCase(f), "x-order": i}
		if f == image {
			prop["format"] = "uri"
			prop["description"] = "Input image"
			required = append(required, f)
		}
		props[f] = prop
	}
	required = append(required, v.required...)
	sort.Strings(required)
	input := map[string]any{"type": "object", "title": "Input", "properties": props}
	if len(required) > 0 {
		input["required"] = required
	}
	return map[string]any{
		"openapi": "3.0.2",
		"info":    map[string]any{"title": "Cog", "version": "0.1.0"},
		"paths":   map[string]any{},
		"components": map[string]any{"schemas": map[string]any{
			"Input":  input,
			"Output": map[string]any{"type": "string", "title": "Output", "format": "uri"},
		}},
	}
}

func requiredOf(v *rversion) []string {
	if v == nil {
		return nil
	}
	return v.required
}

func titleCase(s string) string {
	words := strings.Split(s, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

func (r *Replicate) versionObject(v *rversion) any {
	return map[string]any{
		"id":             v.id,
		"created_at":     v.createdAt.UTC().Format(time.RFC3339Nano),
		"cog_version":    "0.9.4",
		"openapi_schema": r.openAPISchema(v),
	}
}

func (r *Replicate) getModel(w http.ResponseWriter, req *http.Request) {
	owner, name := req.PathValue("owner"), req.PathValue("name")
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[owner+"/"+name]
	if m == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]any{
		"url":             "https://replicate.com/" + owner + "/" + name,
		"owner":           owner,
		"name":            name,
		"description":     "A model served by photobot's fake Replicate",
		"visibility":      "public",
		"github_url":      nil,
		"paper_url":       nil,
		"license_url":     nil,
		"run_count":       len(r.order),
		"cover_image_url": nil,
		"default_example": nil,
		"latest_version":  r.versionObject(m.latest),
	})
}

func (r *Replicate) getVersion(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.versions[req.PathValue("id")]
	if v == nil || v.model.owner != req.PathValue("owner") || v.model.name != req.PathValue("name") {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", r.versionObject(v))
}
