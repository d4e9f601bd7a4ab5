package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/pipeline"
)

func TestParseModel(t *testing.T) {
	v := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in   string
		want Model
		err  bool
	}{
		{in: "black-forest-labs/flux-kontext-pro", want: Model{Owner: "black-forest-labs", Name: "flux-kontext-pro"}},
		{in: "nightmareai/real-esrgan:" + v, want: Model{Owner: "nightmareai", Name: "real-esrgan", Version: v}},
		{in: v, want: Model{Version: v}},
		{in: "", err: true},
		{in: "justname", err: true},
		{in: "a/b/c", err: true},
		{in: "a/b:short", err: true},
		{in: "../x/y", err: true},
	} {
		got, err := ParseModel(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseModel(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"ufawqhfynnddngldkgtslldrkq": true, "abc123": true,
		"": false, "ABC": false, "../tasks/x": false, "a b": false, "a.json": false,
		strings.Repeat("a", 65): false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// api is a minimal stand-in for one endpoint, answering from a script.
func api(t *testing.T, answers ...func(w http.ResponseWriter, r *http.Request)) (*Client, *atomic.Int32, *[]*http.Request) {
	t.Helper()
	var n atomic.Int32
	var mu sync.Mutex
	var reqs []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		body, _ := io.ReadAll(r.Body)
		saved := r.Clone(context.Background())
		saved.Body = io.NopCloser(strings.NewReader(string(body)))
		mu.Lock()
		reqs = append(reqs, saved)
		mu.Unlock()
		answers[min(i, len(answers)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	c := New(srv.URL+"/v1", "r8_test", nil)
	c.Backoff = time.Millisecond
	return c, &n, &reqs
}

func problem(status int, detail string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "detail": detail, "status": status})
	}
}

func created(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, `{"id":"ufawqhfynnddngldkgtslldrkq","status":"starting"}`)
}

func TestCreateOfficialModel(t *testing.T) {
	c, _, reqs := api(t, created)
	p, err := c.CreatePrediction(context.Background(), Model{Owner: "o", Name: "m"}, map[string]any{"image": "https://x"},
		CreateOptions{Webhook: "https://hook", Events: []string{"completed"}, CancelAfter: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "ufawqhfynnddngldkgtslldrkq" || p.Status != pipeline.Starting {
		t.Errorf("got %+v", p)
	}
	r := (*reqs)[0]
	if r.Method != http.MethodPost || r.URL.Path != "/v1/models/o/m/predictions" {
		t.Errorf("request %s %s, want POST /v1/models/o/m/predictions", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer r8_test" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Cancel-After"); got != "600s" {
		t.Errorf("Cancel-After = %q, want 600s", got)
	}
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	if body["webhook"] != "https://hook" || body["webhook_events_filter"].([]any)[0] != "completed" || body["version"] != nil {
		t.Errorf("body = %v", body)
	}
}

func TestCreateVersion(t *testing.T) {
	c, _, reqs := api(t, created)
	v := strings.Repeat("0", 64)
	if _, err := c.CreatePrediction(context.Background(), Model{Owner: "o", Name: "m", Version: v}, map[string]any{}, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := (*reqs)[0]
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	if r.URL.Path != "/v1/predictions" || body["version"] != v || body["webhook"] != nil {
		t.Errorf("got %s %v", r.URL.Path, body)
	}
}

func TestCreateRetries429ThenSucceeds(t *testing.T) {
	c, n, reqs := api(t, problem(429, "Request was throttled. Expected available in 1 second."), created)
	if _, err := c.CreatePrediction(context.Background(), Model{Owner: "o", Name: "m"}, map[string]any{"image": "u"}, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
	for i, r := range *reqs {
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), `"image":"u"`) {
			t.Errorf("attempt %d sent body %q", i+1, b)
		}
	}
}

func TestCreateDoesNotRetryPermanentOr500(t *testing.T) {
	for _, status := range []int{422, 401, 500} {
		c, n, _ := api(t, problem(status, "- input.image: Does not match format 'uri'"))
		_, err := c.CreatePrediction(context.Background(), Model{Owner: "o", Name: "m"}, map[string]any{}, CreateOptions{})
		var e *Error
		if !errors.As(err, &e) || e.Status != status {
			t.Fatalf("status %d: err = %v", status, err)
		}
		if n.Load() != 1 {
			t.Errorf("status %d: %d requests, want 1 (a POST that may have created must not be repeated)", status, n.Load())
		}
		if IsPermanent(err) != (status != 500) {
			t.Errorf("status %d: IsPermanent = %v", status, IsPermanent(err))
		}
		if status == 422 && !strings.Contains(e.Detail, "input.image") {
			t.Errorf("detail lost: %q", e.Detail)
		}
	}
}

func TestRetriesAreBoundedAndHonourTheDeadline(t *testing.T) {
	c, n, _ := api(t, problem(503, "busy"))
	c.Backoff = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, "abc")
	if err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned after %v, past the 30 ms deadline", d)
	}
	c.Backoff = time.Millisecond
	n.Store(0)
	if _, err := c.Get(context.Background(), "abc"); err == nil || n.Load() != 3 {
		t.Errorf("GET on 503: %d attempts, err %v; want 3 attempts and an error", n.Load(), err)
	}
}

func TestLongRetryAfterIsNotWaited(t *testing.T) {
	c, n, _ := api(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		problem(429, "throttled")(w, r)
	})
	_, err := c.Get(context.Background(), "abc")
	var e *Error
	if !errors.As(err, &e) || e.RetryAfter != time.Minute || n.Load() != 1 {
		t.Errorf("err %v after %d attempts; want the 429 at once with RetryAfter 1m", err, n.Load())
	}
}

func TestErrorsDoNotLeakTheToken(t *testing.T) {
	c := New("http://127.0.0.1:1/v1", "r8_secret_token", nil)
	_, err := c.Get(context.Background(), "abc")
	if err == nil || strings.Contains(err.Error(), "r8_secret_token") {
		t.Errorf("err = %v", err)
	}
}

func TestWebhookSecretAndFiles(t *testing.T) {
	c, _, reqs := api(t,
		func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"key":"whsec_c2VjcmV0"}`) },
		func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			io.WriteString(w, `{"id":"f1","urls":{"get":"https://api.replicate.com/v1/files/f1"}}`)
		})
	key, err := c.WebhookSecret(context.Background())
	if err != nil || key != "whsec_c2VjcmV0" {
		t.Fatalf("WebhookSecret = %q, %v", key, err)
	}
	url, err := c.UploadFile(context.Background(), "x.jpg", "image/jpeg", []byte("JPEG"))
	if err != nil || url != "https://api.replicate.com/v1/files/f1" {
		t.Fatalf("UploadFile = %q, %v", url, err)
	}
	r := (*reqs)[1]
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		t.Fatal(err)
	}
	f, h, err := r.FormFile("content")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	if string(data) != "JPEG" || h.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("uploaded %q as %q", data, h.Header.Get("Content-Type"))
	}
}

func TestPredictionHelpers(t *testing.T) {
	var p Prediction
	if err := json.Unmarshal([]byte(`{"id":"x","status":"failed","error":"CUDA out of memory","metrics":{"predict_time":1.5}}`), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Terminal() || p.ErrorText() != "CUDA out of memory" || p.Metrics.PredictTime != 1.5 {
		t.Errorf("got %+v", p)
	}
	for status, want := range map[pipeline.Status]bool{pipeline.Starting: false, pipeline.Processing: false, pipeline.Succeeded: true, pipeline.Canceled: true, pipeline.Aborted: true} {
		if (&Prediction{Status: status}).Terminal() != want {
			t.Errorf("Terminal(%s) != %v", status, want)
		}
	}
}

// Every output shape the golden webhooks hold reaches the core sorted into
// files and text.
func TestOutcomeOfGoldenWebhooks(t *testing.T) {
	for file, want := range map[string]struct {
		status pipeline.Status
		files  int
		text   string
	}{
		"prediction_succeeded_string.json":      {pipeline.Succeeded, 1, ""},
		"prediction_succeeded_list.json":        {pipeline.Succeeded, 2, ""},
		"prediction_succeeded_text_chunks.json": {pipeline.Succeeded, 0, "nonempty"},
		"prediction_failed.json":                {pipeline.Failed, 0, ""},
		"prediction_canceled.json":              {pipeline.Canceled, 0, ""},
		"prediction_aborted.json":               {pipeline.Aborted, 0, ""},
	} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "replicate", file))
		if err != nil {
			t.Fatal(err)
		}
		o, err := DecodeWebhook(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if o.Status != want.status || len(o.Files) < want.files || want.files == 0 && len(o.Files) != 0 ||
			(want.text == "") != (o.Text == "") || !ValidID(o.ID) {
			t.Errorf("%s: %+v", file, o)
		}
		for _, f := range o.Files {
			if !strings.HasPrefix(f, "https://") {
				t.Errorf("%s: file %q", file, f)
			}
		}
		if o.Status == pipeline.Failed && o.Error == "" {
			t.Errorf("%s: the model's error is lost", file)
		}
	}
}

func TestParseOutputShapes(t *testing.T) {
	for in, want := range map[string]struct {
		files []string
		text  string
	}{
		`"https://r.delivery/a.png"`:                     {[]string{"https://r.delivery/a.png"}, ""},
		`["https://r.delivery/a.png","http://x/b.webp"]`: {[]string{"https://r.delivery/a.png", "http://x/b.webp"}, ""},
		`["A cat ", "on a ", "mat. "]`:                   {nil, "A cat on a mat."},
		`{"image":"https://r.delivery/c.png","seed":42}`: {[]string{"https://r.delivery/c.png"}, ""},
		`null`:     {nil, ""},
		`42`:       {nil, ""},
		`not json`: {nil, ""},
	} {
		files, text := parseOutput(json.RawMessage(in))
		if strings.Join(files, " ") != strings.Join(want.files, " ") || text != want.text {
			t.Errorf("%s: files %q text %q", in, files, text)
		}
	}
}

// The core's progress asks for the start event as well; without it, the
// completed event only.
func TestCreateAsksForTheStartEventWithProgress(t *testing.T) {
	for _, progress := range []bool{false, true} {
		c, _, reqs := api(t, created)
		if _, err := c.Create(context.Background(), &pipeline.PredictionRequest{Model: "black-forest-labs/flux-kontext-pro",
			Input: map[string]any{"input_image": "https://x", "prompt": "anime"}, Webhook: "https://hook", Progress: progress}); err != nil {
			t.Fatal(err)
		}
		var body struct {
			Events []string `json:"webhook_events_filter"`
		}
		json.NewDecoder((*reqs)[0].Body).Decode(&body)
		want := "[completed]"
		if progress {
			want = "[start completed]"
		}
		if got := fmt.Sprint(body.Events); got != want || (*reqs)[0].URL.Path != "/v1/models/black-forest-labs/flux-kontext-pro/predictions" {
			t.Errorf("progress %v: events %s to %s, want %s", progress, got, (*reqs)[0].URL.Path, want)
		}
	}
}
