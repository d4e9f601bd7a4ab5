// Package replicate is photobot's client for the Replicate HTTP API and the
// verifier of its webhooks.
//
// It is small and hand-written because the official client
// (github.com/replicate/replicate-go v0.26.0) gets in the way of a webhook
// that must answer within seconds: its retry backoff sleeps without
// watching the context (a 429 under a 100 ms deadline returned after
// 500 ms, measured), it cannot set the Cancel-After deadline, it hides the
// status of a failed webhook-secret fetch, and its webhook check skips the
// timestamp window and puts the secret into its error text.
package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/internal/retry"
)

// DefaultAPIURL is Replicate's API base.
const DefaultAPIURL = "https://api.replicate.com/v1"

// Prediction statuses.
const (
	Starting   = "starting"
	Processing = "processing"
	Succeeded  = "succeeded"
	Failed     = "failed"
	Canceled   = "canceled"
	Aborted    = "aborted" // the deadline passed before the prediction started
)

// Prediction is Replicate's prediction object, as returned by the API and
// posted to webhooks.
type Prediction struct {
	ID        string          `json:"id"`
	Model     string          `json:"model,omitempty"`
	Version   string          `json:"version,omitempty"`
	Status    string          `json:"status"`
	Input     json.RawMessage `json:"input,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
	Logs      string          `json:"logs,omitempty"`
	CreatedAt string          `json:"created_at,omitempty"`
	Metrics   struct {
		PredictTime float64 `json:"predict_time,omitempty"`
	} `json:"metrics"`
	URLs map[string]string `json:"urls,omitempty"`
}

// Terminal reports whether the prediction has finished for good.
func (p *Prediction) Terminal() bool {
	switch p.Status {
	case Succeeded, Failed, Canceled, Aborted:
		return true
	}
	return false
}

// ErrorText is the prediction's error as text ("" when none).
func (p *Prediction) ErrorText() string {
	if len(p.Error) == 0 || string(p.Error) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(p.Error, &s) == nil {
		return s
	}
	return string(p.Error)
}

var idPattern = regexp.MustCompile(`^[a-z0-9]{1,64}$`)

// ValidID reports whether id looks like a Replicate prediction id
// (lowercase letters and digits), so that it is safe to use in a key.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Model names what to run: an official model ("owner/name"), a version of a
// model ("owner/name:<64 hex>"), or a bare version id.
type Model struct {
	Owner, Name, Version string
}

var (
	namePart    = `[A-Za-z0-9][A-Za-z0-9._-]*`
	modelRe     = regexp.MustCompile(`^(` + namePart + `)/(` + namePart + `)(?::([0-9a-f]{64}))?$`)
	versionOnly = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseModel parses REPLICATE_MODEL.
func ParseModel(s string) (Model, error) {
	if versionOnly.MatchString(s) {
		return Model{Version: s}, nil
	}
	m := modelRe.FindStringSubmatch(s)
	if m == nil {
		return Model{}, fmt.Errorf("%q is not owner/name, owner/name:<64-hex version> or a 64-hex version id", s)
	}
	return Model{Owner: m[1], Name: m[2], Version: m[3]}, nil
}

// Short names the model for people: "owner/name", or the version id cut short.
func (m Model) Short() string {
	if m.Owner == "" {
		return m.Version[:min(len(m.Version), 12)]
	}
	return m.Owner + "/" + m.Name
}

func (m Model) String() string {
	switch {
	case m.Owner == "":
		return m.Version
	case m.Version == "":
		return m.Owner + "/" + m.Name
	}
	return m.Owner + "/" + m.Name + ":" + m.Version
}

// Error is an error answered by the API (RFC 7807 problem details), or a
// failure to reach it (Status 0).
type Error struct {
	Op         string
	Status     int
	Title      string
	Detail     string
	RetryAfter time.Duration
	err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("replicate " + e.Op + ": ")
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status) + " ")
	}
	if e.Title != "" {
		b.WriteString(e.Title)
		if e.Detail != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Detail)
	return b.String()
}

func (e *Error) Unwrap() error { return e.err }

// Permanent reports whether the request itself was refused (4xx other
// than 408 and 429): retrying it cannot help.
func (e *Error) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout
}

// IsPermanent reports whether err is a permanent API failure.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// Client calls the Replicate API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client

	// Policy retries failed requests: 3 attempts, 250 ms then doubling, a
	// Retry-After of at most 3 s honoured. Creating a prediction is retried
	// only when it surely was not created: 429 and gateway errors (502,
	// 503, 504).
	retry.Policy
}

// New returns a client for the API at base (DefaultAPIURL when empty).
func New(base, token string, hc *http.Client) *Client {
	if base == "" {
		base = DefaultAPIURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc,
		Policy: retry.Policy{Attempts: 3, Backoff: 250 * time.Millisecond, MaxRetryAfter: 3 * time.Second}}
}

// CreateOptions are the optional parts of a prediction request.
type CreateOptions struct {
	Webhook string   // URL Replicate posts to
	Events  []string // webhook_events_filter
	// CancelAfter is a deadline after which Replicate cancels the
	// prediction (header Cancel-After); 0 means none.
	CancelAfter time.Duration
}

// Create starts a prediction of model on input.
func (c *Client) Create(ctx context.Context, m Model, input map[string]any, o CreateOptions) (*Prediction, error) {
	body := map[string]any{"input": input}
	path := "/predictions"
	if m.Version != "" {
		body["version"] = m.Version
	} else {
		path = "/models/" + m.Owner + "/" + m.Name + "/predictions"
	}
	if o.Webhook != "" {
		body["webhook"] = o.Webhook
		body["webhook_events_filter"] = o.Events
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, &Error{Op: "create prediction", Detail: err.Error(), err: err}
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	if o.CancelAfter > 0 {
		hdr.Set("Cancel-After", strconv.Itoa(int(o.CancelAfter/time.Second))+"s")
	}
	var p Prediction
	err = c.call(ctx, "create prediction", http.MethodPost, path, hdr, data, &p)
	if err != nil {
		return nil, err
	}
	if !ValidID(p.ID) {
		return nil, &Error{Op: "create prediction", Detail: fmt.Sprintf("answer has no valid prediction id (%.40q)", p.ID)}
	}
	return &p, nil
}

// Get reads a prediction.
func (c *Client) Get(ctx context.Context, id string) (*Prediction, error) {
	if !ValidID(id) {
		return nil, &Error{Op: "get prediction", Status: http.StatusBadRequest, Detail: "invalid prediction id"}
	}
	var p Prediction
	if err := c.call(ctx, "get prediction", http.MethodGet, "/predictions/"+id, nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Cancel cancels a prediction, so that it is not billed further.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if !ValidID(id) {
		return &Error{Op: "cancel prediction", Status: http.StatusBadRequest, Detail: "invalid prediction id"}
	}
	return c.call(ctx, "cancel prediction", http.MethodPost, "/predictions/"+id+"/cancel", nil, nil, nil)
}

// WebhookSecret fetches the account's webhook signing secret ("whsec_...").
func (c *Client) WebhookSecret(ctx context.Context) (string, error) {
	var s struct {
		Key string `json:"key"`
	}
	if err := c.call(ctx, "get webhook secret", http.MethodGet, "/webhooks/default/secret", nil, nil, &s); err != nil {
		return "", err
	}
	if !strings.HasPrefix(s.Key, "whsec_") {
		return "", &Error{Op: "get webhook secret", Detail: "answer holds no whsec_ key"}
	}
	return s.Key, nil
}

// Account is the owner of the API token.
type Account struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Account checks the token and returns its owner.
func (c *Client) Account(ctx context.Context) (*Account, error) {
	var a Account
	if err := c.call(ctx, "get account", http.MethodGet, "/account", nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ModelInfo is what photobot reads of a model: its latest version and the
// names of its inputs.
type ModelInfo struct {
	Owner         string `json:"owner"`
	Name          string `json:"name"`
	LatestVersion *struct {
		ID            string          `json:"id"`
		OpenAPISchema json.RawMessage `json:"openapi_schema"`
	} `json:"latest_version"`
}

// GetModel reads a model, or, for a version id alone, nothing (a bare
// version cannot be looked up without its model's name).
func (c *Client) GetModel(ctx context.Context, m Model) (*ModelInfo, error) {
	if m.Owner == "" {
		return nil, nil
	}
	var info ModelInfo
	if err := c.call(ctx, "get model", http.MethodGet, "/models/"+m.Owner+"/"+m.Name, nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// InputNames lists the input fields of the model's latest version, read
// from its OpenAPI schema (components.schemas.Input.properties).
func (i *ModelInfo) InputNames() []string {
	if i == nil || i.LatestVersion == nil {
		return nil
	}
	var s struct {
		Components struct {
			Schemas struct {
				Input struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"Input"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if json.Unmarshal(i.LatestVersion.OpenAPISchema, &s) != nil {
		return nil
	}
	var names []string
	for n := range s.Components.Schemas.Input.Properties {
		names = append(names, n)
	}
	return names
}

// UploadFile stores data with the Files API and returns a URL that models
// of this account can read.
func (c *Client) UploadFile(ctx context.Context, name, contentType string, data []byte) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="content"; filename=%q`, name)}
	h["Content-Type"] = []string{contentType}
	part, err := w.CreatePart(h)
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return "", &Error{Op: "upload file", Detail: err.Error(), err: err}
	}
	var f struct {
		URLs struct {
			Get string `json:"get"`
		} `json:"urls"`
	}
	hdr := http.Header{"Content-Type": {w.FormDataContentType()}}
	if err := c.call(ctx, "upload file", http.MethodPost, "/files", hdr, buf.Bytes(), &f); err != nil {
		return "", err
	}
	if f.URLs.Get == "" {
		return "", &Error{Op: "upload file", Detail: "answer holds no urls.get"}
	}
	return f.URLs.Get, nil
}

// call does one API request with bounded, context-aware retries.
func (c *Client) call(ctx context.Context, op, method, path string, hdr http.Header, body []byte, out any) error {
	return c.Policy.Do(ctx, func(ctx context.Context) error { return c.once(ctx, op, method, path, hdr, body, out) },
		func(err error) (bool, time.Duration) {
			var e *Error
			if !c.retryable(method, err) || !errors.As(err, &e) {
				return false, 0
			}
			return true, e.RetryAfter
		})
}

func (c *Client) retryable(method string, err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		return true
	case e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout:
		return true
	case method == http.MethodGet:
		return e.Status == 0 || e.Status >= 500
	}
	return false
}

func (c *Client) once(ctx context.Context, op, method, path string, hdr http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return &Error{Op: op, Detail: err.Error(), err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "photobot")
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Op: op, Detail: strings.ReplaceAll(err.Error(), c.token, "<token>"), err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &Error{Op: op, Detail: "reading answer: " + err.Error(), err: err}
	}
	if resp.StatusCode >= 300 {
		e := &Error{Op: op, Status: resp.StatusCode}
		var prob struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(data, &prob) == nil && (prob.Title != "" || prob.Detail != "") {
			e.Title, e.Detail = prob.Title, prob.Detail
		} else {
			e.Detail = http.StatusText(resp.StatusCode)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Detail: "malformed answer: " + err.Error(), err: err}
	}
	return nil
}
