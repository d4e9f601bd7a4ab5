package fake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const replicateToken = "r8_Fk3vRi9Mx2QWn8AqTnZbVt0sYcHuPL1oe7JgX"

// rcall calls the fake Replicate API with the bearer token.
func rcall(t *testing.T, r *Replicate, method, path string, body any, hdr map[string]string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return doReq(t, req)
}

// decodeMap decodes a JSON object.
func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// verifyStandardWebhook checks a webhook's signature the way the Standard
// Webhooks spec describes it, independently of Replicate.Sign.
func verifyStandardWebhook(t *testing.T, secret string, h http.Header, body []byte) {
	t.Helper()
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if !strings.HasPrefix(id, "msg_") || ts == "" || sigs == "" {
		t.Fatalf("webhook headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Fatalf("webhook-timestamp %q is not a recent unix time", ts)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) != 32 || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not whsec_ + base64 of 32 bytes", secret)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return
		}
	}
	t.Fatalf("no valid signature in %q", sigs)
}

// receiver is a webhook endpoint that records what it got and answers
// with the statuses queued in answers (200 once they run out).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	got     []receivedHook
}

type receivedHook struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	rc := &receiver{answers: answers}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := http.StatusOK
		if len(rc.answers) > 0 {
			status, rc.answers = rc.answers[0], rc.answers[1:]
		}
		rc.got = append(rc.got, receivedHook{r.Header.Clone(), body, status})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []receivedHook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedHook(nil), rc.got...)
}

// imageServer serves a JPEG at /photo.jpg, like a presigned S3 URL.
func imageServer(t *testing.T, data []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/photo.jpg" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var predictionID = regexp.MustCompile(`^[a-z0-9]{26}$`)

func TestReplicateAuth(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	if !strings.HasSuffix(r.URL, "/v1") {
		t.Errorf("URL %q does not end in /v1", r.URL)
	}
	for _, auth := range []string{"", "Bearer r8_wrong", "Bearer"} {
		req, _ := http.NewRequest(http.MethodGet, r.URL+"/account", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		status, body, hdr := doReq(t, req)
		if status != 401 || hdr.Get("Content-Type") != "application/problem+json" ||
			string(body) != `{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}` {
			t.Errorf("auth %q: %d %s %s", auth, status, hdr.Get("Content-Type"), body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/account", nil)
	req.Header.Set("Authorization", "Token "+replicateToken)
	if status, body, _ := doReq(t, req); status != 200 || decodeMap(t, body)["username"] != "photobot" {
		t.Errorf("account with Token auth: %d %s", status, body)
	}
	status, body, _ := rcall(t, r, http.MethodGet, "/webhooks/default/secret", nil, nil)
	if status != 200 || string(body) != `{"key":"`+r.WebhookSecret+`"}` || !strings.HasPrefix(r.WebhookSecret, "whsec_") {
		t.Errorf("secret: %d %s", status, body)
	}
}

func TestReplicateSignTestVector(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	// The test vector of the Standard Webhooks reference libraries.
	r.WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got := r.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestReplicatePredictionLifecycle(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	photo := JPEG(64, 64)
	img := imageServer(t, photo)
	hook := newReceiver(t)

	status, body, _ := rcall(t, r, http.MethodPost, "/predictions", map[string]any{
		"version":               DefaultModelOwner + "/" + DefaultModelName + ":" + DefaultModelVersion,
		"input":                 map[string]any{"image": img.URL + "/photo.jpg?X-Amz-Signature=abc", "scale": 2},
		"webhook":               hook.URL + "/replicate?task=1",
		"webhook_events_filter": []string{"completed"},
	}, map[string]string{"Cancel-After": "5m"})
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	p := decodeMap(t, body)
	id, _ := p["id"].(string)
	urls, _ := p["urls"].(map[string]any)
	if !predictionID.MatchString(id) || p["status"] != "starting" || p["output"] != nil || p["error"] != nil || p["logs"] != "" ||
		p["model"] != "acme/photo-restore" || p["version"] != DefaultModelVersion || p["webhook"] != hook.URL+"/replicate?task=1" ||
		urls["get"] != r.URL+"/predictions/"+id || urls["cancel"] != r.URL+"/predictions/"+id+"/cancel" ||
		urls["stream"] == nil || urls["web"] != "https://replicate.com/p/"+id {
		t.Fatalf("create answer: %s", body)
	}
	if _, err := time.Parse(time.RFC3339, p["created_at"].(string)); err != nil {
		t.Errorf("created_at: %v", err)
	}

	d := r.WaitDeliveries(t, 1, 5*time.Second)[0]
	got := hook.received()
	if len(got) != 1 || d.Status != 200 || d.Event != "completed" || d.PredictionID != id || !bytes.Equal(got[0].body, d.Body) {
		t.Fatalf("delivery %+v, received %d", d, len(got))
	}
	verifyStandardWebhook(t, r.WebhookSecret, got[0].header, got[0].body)
	done := decodeMap(t, got[0].body)
	metrics, _ := done["metrics"].(map[string]any)
	out, _ := done["output"].(string)
	if done["id"] != id || done["status"] != "succeeded" || metrics["predict_time"] == nil || done["completed_at"] == nil || out == "" {
		t.Fatalf("completed webhook: %s", got[0].body)
	}
	// The output is served by the fake, without auth.
	resp, err := http.Get(out)
	if err != nil {
		t.Fatal(err)
	}
	outBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(outBytes, r.OutputPNG) {
		t.Errorf("output %s: %d %s", out, resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	recorded := r.Predictions()
	if len(recorded) != 1 || !bytes.Equal(recorded[0].Fetched, photo) || recorded[0].Header.Get("Cancel-After") != "5m" ||
		recorded[0].Input["scale"] != 2.0 || recorded[0].EventsFilter[0] != "completed" {
		t.Errorf("recorded prediction: %+v", recorded)
	}
	status, body, _ = rcall(t, r, http.MethodGet, "/predictions/"+id, nil, nil)
	if status != 200 || decodeMap(t, body)["status"] != "succeeded" {
		t.Errorf("get: %d %s", status, body)
	}
	status, body, _ = rcall(t, r, http.MethodGet, "/predictions/zzzzzzzzzzzzzzzzzzzzzzzzzz", nil, nil)
	if status != 404 || string(body) != `{"title":"Not found","detail":"Not found.","status":404}` {
		t.Errorf("get unknown: %d %s", status, body)
	}
	r.ExpireOutputs()
	if resp, err := http.Get(out); err != nil || resp.StatusCode != 404 {
		t.Errorf("expired output: %v %v", resp, err)
	}
	if p, _ := r.Prediction(id); !p.DataRemoved || p.Output != nil {
		t.Errorf("expired prediction: %+v", p)
	}
}

func TestReplicateWebhookRetries(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	hook := newReceiver(t, 500, 503)
	status, body, _ := rcall(t, r, http.MethodPost, "/models/acme/photo-restore/predictions", map[string]any{
		"input":   map[string]any{"image": "data:image/png;base64," + base64.StdEncoding.EncodeToString(PNG(8, 8))},
		"webhook": hook.URL}, nil)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	if v := decodeMap(t, body)["version"]; v != "hidden" {
		t.Errorf("version of an official model's prediction: %v", v)
	}
	ds := r.WaitDeliveries(t, 3, 5*time.Second)
	for i, d := range ds {
		if d.WebhookID != ds[0].WebhookID || d.Attempt != i+1 || !bytes.Equal(d.Body, ds[0].Body) {
			t.Errorf("attempt %d: %+v", i+1, d)
		}
	}
	if ds[0].Status != 500 || ds[1].Status != 503 || ds[2].Status != 200 || ds[2].At.Sub(ds[0].At) < 60*time.Millisecond {
		t.Errorf("statuses %d %d %d over %v", ds[0].Status, ds[1].Status, ds[2].Status, ds[2].At.Sub(ds[0].At))
	}
	for _, h := range hook.received() {
		verifyStandardWebhook(t, r.WebhookSecret, h.header, h.body)
	}
	r.WaitIdle(t, 5*time.Second)
	if n := len(r.Deliveries()); n != 3 {
		t.Errorf("%d deliveries after a 2xx, want 3", n)
	}

	// An unreachable receiver: 1 try + WebhookRetries.
	r2 := NewReplicate(t, replicateToken)
	r2.WebhookRetries = 2
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	rcall(t, r2, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": "data:,x"}, "webhook": gone.URL}, nil)
	ds = r2.WaitDeliveries(t, 3, 5*time.Second)
	r2.WaitIdle(t, 5*time.Second)
	if ds[2].Err == nil || ds[2].Status != 0 || len(r2.Deliveries()) != 3 {
		t.Errorf("unreachable receiver: %+v (%d deliveries)", ds[2], len(r2.Deliveries()))
	}
}

func TestReplicateDuplicateWebhooks(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	r.DuplicateWebhooks = 2
	hook := newReceiver(t)
	rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": "data:,x"}, "webhook": hook.URL}, nil)
	ds := r.WaitDeliveries(t, 3, 5*time.Second)
	if ds[0].WebhookID != ds[1].WebhookID || ds[1].WebhookID != ds[2].WebhookID {
		t.Errorf("duplicates have different ids: %s %s %s", ds[0].WebhookID, ds[1].WebhookID, ds[2].WebhookID)
	}
	again := r.RedeliverWebhook(ds[0])
	if again.WebhookID != ds[0].WebhookID || again.Status != 200 {
		t.Errorf("RedeliverWebhook: %+v", again)
	}
	p := r.Predictions()[0]
	p.Status = StatusProcessing // a stale, out-of-order webhook
	fresh := r.DeliverWebhook(hook.URL, p)
	if fresh.WebhookID == ds[0].WebhookID || fresh.Status != 200 || decodeMap(t, fresh.Body)["status"] != "processing" {
		t.Errorf("DeliverWebhook: %+v", fresh)
	}
	got := hook.received()
	if len(got) != 5 {
		t.Fatalf("received %d webhooks, want 5", len(got))
	}
	for _, h := range got {
		verifyStandardWebhook(t, r.WebhookSecret, h.header, h.body)
	}
}

func TestReplicateWebhookBeforeResponse(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	r.WebhookBeforeResponse = true
	var mu sync.Mutex
	var events []string
	// The bot has no record of the task before the create answer: it asks
	// for a retry.
	created := false
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !created {
			events = append(events, "webhook: unknown task")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		events = append(events, "webhook: ok")
	}))
	defer hook.Close()

	status, body, _ := rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": "data:,x"}, "webhook": hook.URL}, nil)
	mu.Lock()
	created = true
	events = append(events, "create answered")
	mu.Unlock()
	if status != 201 || decodeMap(t, body)["status"] != "starting" {
		t.Fatalf("create: %d %s", status, body)
	}
	// Retries follow until one is answered 200; how many come before the
	// create answer reaches this test is the scheduler's business.
	ds := waitUntil(t, &r.changed, 5*time.Second, func() ([]Delivery, bool) {
		d := r.Deliveries()
		return d, len(d) > 0 && d[len(d)-1].Status == 200
	}, func(ds []Delivery) string { return fmt.Sprintf("no webhook answered 200: %+v", ds) })
	mu.Lock()
	got := strings.Join(events, ", ")
	mu.Unlock()
	if !strings.HasPrefix(got, "webhook: unknown task, ") || !strings.HasSuffix(got, ", create answered, webhook: ok") ||
		ds[0].Status != 404 || len(ds) != strings.Count(got, "webhook:") {
		t.Errorf("order: %s; want a 404 before the create answer, and the retry after it answered 200", got)
	}
}

func TestReplicateFaults(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	create := map[string]any{"version": DefaultModelVersion, "input": map[string]any{"image": "data:,x"}}
	throttled := `{"detail":"Request was throttled. Expected available in 1 second.","status":429}`

	r.FailNext("create", 429, throttled)
	r.FailNextRetryAfter("create", 2)
	status, body, hdr := rcall(t, r, http.MethodPost, "/predictions", create, nil)
	if status != 429 || string(body) != throttled || hdr.Get("Retry-After") != "" {
		t.Errorf("FailNext 429: %d %s Retry-After %q", status, body, hdr.Get("Retry-After"))
	}
	status, body, hdr = rcall(t, r, http.MethodPost, "/predictions", create, nil)
	if status != 429 || hdr.Get("Retry-After") != "2" || !strings.Contains(string(body), "Expected available in 2 seconds.") {
		t.Errorf("FailNextRetryAfter: %d %s Retry-After %q", status, body, hdr.Get("Retry-After"))
	}
	if status, _, _ := rcall(t, r, http.MethodPost, "/predictions", create, nil); status != 201 {
		t.Errorf("after the faults: %d", status)
	}
	if n := len(r.Predictions()); n != 1 {
		t.Errorf("%d predictions created, want 1", n)
	}

	r.FailNext("secret", 503, "")
	status, body, _ = rcall(t, r, http.MethodGet, "/webhooks/default/secret", nil, nil)
	if status != 503 || string(body) != `{"title":"Service Unavailable","detail":"Service Unavailable","status":503}` {
		t.Errorf("secret 503: %d %s", status, body)
	}
	r.FailAlways("get", 500, "")
	id := r.Predictions()[0].ID
	for i := 0; i < 2; i++ {
		if status, _, _ := rcall(t, r, http.MethodGet, "/predictions/"+id, nil, nil); status != 500 {
			t.Errorf("FailAlways: %d", status)
		}
	}
	r.ClearFaults()

	r.Delay("get", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/predictions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+replicateToken)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Delay: err %v after %v", err, time.Since(start))
	}
}

func TestReplicateValidation(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	for _, tc := range []struct {
		path   string
		body   any
		status int
		want   string
	}{
		{"/predictions", map[string]any{"version": DefaultModelVersion, "input": map[string]any{"prompt": "x"}}, 422,
			`{"title":"Input validation failed","detail":"- input: image is required\n","status":422,"invalid_fields":[{"type":"required","field":"input","description":"image is required"}]}`},
		{"/predictions", map[string]any{"input": map[string]any{"image": "x"}}, 422,
			`{"title":"Input validation failed","detail":"- version is required\n","status":422,"invalid_fields":[{"type":"required","field":"","description":"version is required"}]}`},
		{"/predictions", map[string]any{"version": DefaultModelVersion, "input": "x"}, 422,
			`{"title":"Input validation failed","detail":"- input: Invalid type. Expected: object, given: string\n","status":422,"invalid_fields":[{"type":"invalid_type","field":"input","description":"Invalid type. Expected: object, given: string"}]}`},
		{"/predictions", map[string]any{"version": strings.Repeat("0", 64), "input": map[string]any{}}, 422,
			`{"title":"Invalid version or not permitted","detail":"The specified version does not exist (or perhaps you don't have permission to use it?)","status":422}`},
		{"/predictions", map[string]any{"version": "acme/photo-restore", "input": map[string]any{}}, 422,
			`{"title":"Invalid version or not permitted","detail":"The specified version does not exist (or perhaps you don't have permission to use it?)","status":422}`},
		{"/predictions", map[string]any{"version": DefaultModelVersion, "input": map[string]any{"image": "data:,x"},
			"webhook": "hook", "webhook_events_filter": []string{"done"}}, 422,
			`{"title":"Input validation failed","detail":"- webhook: Does not match format 'uri'\n- webhook_events_filter.0: webhook_events_filter.0 must be one of the following: \"start\", \"output\", \"logs\", \"completed\"\n","status":422,"invalid_fields":[{"type":"format","field":"webhook","description":"Does not match format 'uri'"},{"type":"enum","field":"webhook_events_filter.0","description":"webhook_events_filter.0 must be one of the following: \"start\", \"output\", \"logs\", \"completed\""}]}`},
		{"/models/acme/nope/predictions", map[string]any{"input": map[string]any{}}, 404,
			`{"title":"Not found","detail":"Not found.","status":404}`},
	} {
		status, body, hdr := rcall(t, r, http.MethodPost, tc.path, tc.body, nil)
		if status != tc.status || string(body) != tc.want || hdr.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %v:\n got %d %s\nwant %d %s", tc.path, tc.body, status, body, tc.status, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, r.URL+"/predictions", strings.NewReader("{not json"))
	req.Header.Set("Authorization", "Bearer "+replicateToken)
	if status, _, _ := doReq(t, req); status != 400 {
		t.Errorf("bad JSON: %d", status)
	}
	if n := len(r.Predictions()); n != 0 {
		t.Errorf("%d predictions created by invalid requests", n)
	}
}

func TestReplicateModelFuncs(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	img := imageServer(t, JPEG(16, 16))
	create := func(image string) string {
		t.Helper()
		status, body, _ := rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
			"input": map[string]any{"image": image}}, nil)
		if status != 201 {
			t.Fatalf("create: %d %s", status, body)
		}
		return decodeMap(t, body)["id"].(string)
	}

	p := r.WaitTerminal(t, create(img.URL+"/gone.jpg"), 5*time.Second)
	if p.Status != "failed" || p.Error != "could not fetch input image: 404 Not Found" {
		t.Errorf("unreachable input: %s %q", p.Status, p.Error)
	}

	var gotIn map[string]any
	var gotBytes []byte
	r.SetModelFunc(func(in map[string]any, fetched []byte) (string, any, string) {
		gotIn, gotBytes = in, fetched
		u1 := r.ServeOutput("a.webp", "image/webp", []byte("RIFF"))
		return "", []string{u1, r.ServeOutput("b.png", "image/png", PNG(4, 4))}, ""
	})
	p = r.WaitTerminal(t, create(img.URL+"/photo.jpg"), 5*time.Second)
	list, _ := p.Output.([]string)
	if p.Status != "succeeded" || len(list) != 2 || gotIn["image"] != img.URL+"/photo.jpg" || len(gotBytes) == 0 {
		t.Errorf("list output: %+v", p)
	}
	status, body, _ := rcall(t, r, http.MethodGet, "/predictions/"+p.ID, nil, nil)
	if status != 200 || !strings.Contains(string(body), `"output":["`+list[0]+`","`+list[1]+`"]`) {
		t.Errorf("get list output: %s", body)
	}

	r.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return "", nil, "CUDA out of memory"
	})
	p = r.WaitTerminal(t, create("data:,x"), 5*time.Second)
	if p.Status != "failed" || p.Error != "CUDA out of memory" {
		t.Errorf("failing model: %+v", p)
	}
	r.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return "", []string{"A ", "cat ", "on a sofa."}, ""
	})
	p = r.WaitTerminal(t, create("data:,x"), 5*time.Second)
	if b, _ := json.Marshal(p); !strings.Contains(string(b), `"output":["A ","cat ","on a sofa."]`) {
		t.Errorf("text chunks: %s", b)
	}
}

func TestReplicateCancelDeadlineAndWait(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	hook := newReceiver(t)
	r.RunTime = 10 * time.Second
	_, body, _ := rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": "data:,x"}, "webhook": hook.URL}, nil)
	id := decodeMap(t, body)["id"].(string)
	status, body, _ := rcall(t, r, http.MethodPost, "/predictions/"+id+"/cancel", nil, nil)
	if status != 200 || decodeMap(t, body)["status"] != "canceled" {
		t.Fatalf("cancel: %d %s", status, body)
	}
	d := r.WaitDeliveries(t, 1, 5*time.Second)[0]
	if decodeMap(t, d.Body)["status"] != "canceled" || d.Event != "completed" {
		t.Errorf("cancel webhook: %s", d.Body)
	}
	if c := r.Canceled(); len(c) != 1 || c[0] != id {
		t.Errorf("Canceled() = %v", c)
	}

	// Cancel-After passing while queued: aborted.
	r.RunTime, r.QueueTime = 0, 10*time.Second
	_, body, _ = rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": "data:,x"}}, map[string]string{"Cancel-After": "100ms"})
	p := r.WaitTerminal(t, decodeMap(t, body)["id"].(string), 5*time.Second)
	if b, _ := json.Marshal(p); p.Status != "aborted" || strings.Contains(string(b), "started_at") {
		t.Errorf("deadline: %s", b)
	}

	// Prefer: wait is not modelled: the answer comes at once.
	r.QueueTime, r.RunTime = 0, time.Second
	_, body, _ = rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": "data:,x"}}, map[string]string{"Prefer": "wait=5"})
	if m := decodeMap(t, body); m["status"] != "starting" {
		t.Errorf("Prefer: wait: %s", body)
	}
}

func TestReplicateCancel(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	hook := newReceiver(t)
	create := func() string {
		t.Helper()
		_, body, _ := rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
			"input": map[string]any{"image": "data:,x"}, "webhook": hook.URL}, nil)
		return decodeMap(t, body)["id"].(string)
	}
	cancel := func(id string) map[string]any {
		t.Helper()
		status, body, _ := rcall(t, r, http.MethodPost, "/predictions/"+id+"/cancel", nil, nil)
		if status != 200 {
			t.Fatalf("cancel: %d %s", status, body)
		}
		return decodeMap(t, body)
	}

	// A cancel of a finished prediction answers it unchanged, and sends no
	// second webhook.
	done := create()
	p := r.WaitTerminal(t, done, 5*time.Second)
	r.WaitDeliveries(t, 1, 5*time.Second)
	if m := cancel(done); m["status"] != "succeeded" || m["output"] == nil || m["completed_at"] == nil {
		t.Errorf("cancel of a succeeded prediction: %v", m)
	}
	if q, _ := r.Prediction(done); q.Status != "succeeded" || !q.CompletedAt.Equal(p.CompletedAt) {
		t.Errorf("after the cancel: %+v", q)
	}

	// With FinishAfterCancel the cancel comes too late: the model finishes
	// that long after it and the prediction succeeds.
	r.RunTime, r.FinishAfterCancel = 10*time.Second, 200*time.Millisecond
	late := create()
	waitStatus(t, r, late, StatusProcessing)
	start := time.Now()
	if m := cancel(late); m["status"] != "processing" {
		t.Errorf("a late cancel answers the prediction still processing: %v", m)
	}
	if q, _ := r.Prediction(late); q.Status != StatusProcessing {
		t.Errorf("right after a late cancel: %s", q.Status)
	}
	p = r.WaitTerminal(t, late, 5*time.Second)
	if took := time.Since(start); p.Status != "succeeded" || p.Output == nil || took < 150*time.Millisecond || took > 3*time.Second {
		t.Errorf("late cancel: %s after %v", p.Status, took)
	}
	d := r.WaitDeliveries(t, 2, 5*time.Second)[1]
	if d.PredictionID != late || d.Event != "completed" || decodeMap(t, d.Body)["status"] != "succeeded" {
		t.Errorf("webhook after a late cancel: %s %s", d.Event, d.Body)
	}
	if c := r.Canceled(); len(c) != 2 || c[0] != done || c[1] != late {
		t.Errorf("Canceled() = %v", c)
	}

	// A queued prediction is canceled at once even so.
	r.QueueTime = 10 * time.Second
	queued := create()
	if m := cancel(queued); m["status"] != "canceled" {
		t.Errorf("cancel while starting: %v", m)
	}
	if d := r.WaitDeliveries(t, 3, 5*time.Second)[2]; decodeMap(t, d.Body)["status"] != "canceled" {
		t.Errorf("completed webhook of a canceled prediction: %s", d.Body)
	}
}

// waitStatus waits until prediction id has status.
func waitStatus(t *testing.T, r *Replicate, id, status string) {
	t.Helper()
	waitUntil(t, &r.changed, 5*time.Second, func() (string, bool) {
		p, _ := r.Prediction(id)
		return p.Status, p.Status == status
	}, func(s string) string { return fmt.Sprintf("prediction %s is %s, want %s", id, s, status) })
}

func TestReplicateFiles(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	photo := JPEG(20, 20)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="content"; filename="photo.jpg"`)
	h.Set("Content-Type", "image/jpeg")
	pw, _ := w.CreatePart(h)
	_, _ = pw.Write(photo)
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, r.URL+"/files", &buf)
	req.Header.Set("Authorization", "Bearer "+replicateToken)
	req.Header.Set("Content-Type", w.FormDataContentType())
	status, body, _ := doReq(t, req)
	var f struct {
		ID          string            `json:"id"`
		Name        string            `json:"name"`
		ContentType string            `json:"content_type"`
		Size        int               `json:"size"`
		Checksums   map[string]string `json:"checksums"`
		URLs        map[string]string `json:"urls"`
	}
	if err := json.Unmarshal(body, &f); err != nil || status != 201 || f.Name != "photo.jpg" || f.ContentType != "image/jpeg" ||
		f.Size != len(photo) || f.Checksums["sha256"] == "" || f.URLs["get"] != r.URL+"/files/"+f.ID {
		t.Fatalf("upload: %d %s", status, body)
	}
	// urls.get is the file object; its bytes are at /download.
	req, _ = http.NewRequest(http.MethodGet, f.URLs["get"], nil)
	req.Header.Set("Authorization", "Bearer "+replicateToken)
	if status, body, _ := doReq(t, req); status != 200 || decodeMap(t, body)["id"] != f.ID {
		t.Errorf("get file: %d %s", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, f.URLs["get"]+"/download", nil)
	if status, _, _ := doReq(t, req); status != 401 {
		t.Errorf("download without auth: %d", status)
	}
	req.Header.Set("Authorization", "Bearer "+replicateToken)
	if status, body, hdr := doReq(t, req); status != 200 || !bytes.Equal(body, photo) || hdr.Get("Content-Type") != "image/jpeg" {
		t.Errorf("download: %d %s", status, hdr.Get("Content-Type"))
	}
	// A model reads a file of the Files API given as input.
	_, body, _ = rcall(t, r, http.MethodPost, "/predictions", map[string]any{"version": DefaultModelVersion,
		"input": map[string]any{"image": f.URLs["get"]}}, nil)
	if p := r.WaitTerminal(t, decodeMap(t, body)["id"].(string), 5*time.Second); !bytes.Equal(p.Fetched, photo) {
		t.Errorf("model read %d bytes of the file", len(p.Fetched))
	}

	r.FailNext("files", 500, "")
	req, _ = http.NewRequest(http.MethodPost, r.URL+"/files", strings.NewReader(""))
	req.Header.Set("Authorization", "Bearer "+replicateToken)
	if status, _, _ := doReq(t, req); status != 500 {
		t.Errorf("FailNext files: %d", status)
	}
}

func TestReplicateModelSchema(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	type schema struct {
		Owner         string `json:"owner"`
		Name          string `json:"name"`
		LatestVersion struct {
			ID            string `json:"id"`
			OpenAPISchema struct {
				Components struct {
					Schemas struct {
						Input struct {
							Required   []string                   `json:"required"`
							Properties map[string]json.RawMessage `json:"properties"`
						} `json:"Input"`
					} `json:"schemas"`
				} `json:"components"`
			} `json:"openapi_schema"`
		} `json:"latest_version"`
	}
	get := func(path string) (int, schema) {
		t.Helper()
		status, body, _ := rcall(t, r, http.MethodGet, path, nil, nil)
		var s schema
		if status == 200 {
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
		}
		return status, s
	}
	status, s := get("/models/acme/photo-restore")
	in := s.LatestVersion.OpenAPISchema.Components.Schemas.Input
	if status != 200 || s.LatestVersion.ID != DefaultModelVersion || len(in.Properties) != 3 || in.Properties["image"] == nil ||
		fmt.Sprint(in.Required) != "[image]" {
		t.Errorf("default model: %d %+v", status, s)
	}

	v := r.SetModel("acme", "captioner", "", "image", "prompt")
	status, s = get("/models/acme/captioner")
	if status != 200 || s.LatestVersion.ID != v || len(v) != 64 || len(s.LatestVersion.OpenAPISchema.Components.Schemas.Input.Properties) != 2 {
		t.Errorf("SetModel: %d %+v", status, s)
	}
	if status, body, _ := rcall(t, r, http.MethodGet, "/models/acme/captioner/versions/"+v, nil, nil); status != 200 || decodeMap(t, body)["id"] != v {
		t.Errorf("version: %d %s", status, body)
	}
	if status, _ := get("/models/acme/nope"); status != 404 {
		t.Errorf("unknown model: %d", status)
	}
	// A model without an image input requires none.
	r.SetModel("acme", "text", "", "prompt")
	if status, body, _ := rcall(t, r, http.MethodPost, "/models/acme/text/predictions",
		map[string]any{"input": map[string]any{"prompt": "hi"}}, nil); status != 201 {
		t.Errorf("model without image: %d %s", status, body)
	}
	r.FailNext("model", 500, "")
	if status, _ := get("/models/acme/text"); status != 500 {
		t.Errorf("FailNext model: %d", status)
	}
}
