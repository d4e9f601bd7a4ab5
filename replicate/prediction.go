package replicate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/pipeline"
)

// Prediction is Replicate's prediction object, as returned by the API and
// posted to webhooks.
type Prediction struct {
	ID        string          `json:"id"`
	Model     string          `json:"model,omitempty"`
	Version   string          `json:"version,omitempty"`
	Status    pipeline.Status `json:"status"`
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
func (p *Prediction) Terminal() bool { return p.Status.Terminal() }

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

// Outcome is the prediction as the core reads it: its output sorted into
// files and text.
func (p *Prediction) Outcome() *pipeline.Outcome {
	o := &pipeline.Outcome{ID: p.ID, Status: p.Status, Error: p.ErrorText(),
		Took: time.Duration(p.Metrics.PredictTime * float64(time.Second))}
	o.Files, o.Text = parseOutput(p.Output)
	return o
}

// DecodeWebhook reads the body of a webhook (the prediction object).
func DecodeWebhook(body []byte) (*pipeline.Outcome, error) {
	var p Prediction
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	return p.Outcome(), nil
}

// parseOutput reads the shapes models return: a URL, a list of URLs, text,
// a list of text chunks (concatenated), or an object holding URLs.
func parseOutput(raw json.RawMessage) (files []string, text string) {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil, ""
	}
	var chunks []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if isURL(x) {
				files = append(files, x)
			} else {
				chunks = append(chunks, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				if s, ok := e.(string); ok && isURL(s) {
					files = append(files, s)
				}
			}
		}
	}
	walk(v)
	return files, strings.TrimSpace(strings.Join(chunks, ""))
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

var idPattern = regexp.MustCompile(`^[a-z0-9]{1,64}$`)

// ValidID reports whether id looks like a Replicate prediction id
// (lowercase letters and digits), so that it is safe to use in a key.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// CreateOptions are the optional parts of a prediction request.
type CreateOptions struct {
	Webhook string   // URL Replicate posts to
	Events  []string // webhook_events_filter
	// CancelAfter is a deadline after which Replicate cancels the
	// prediction (header Cancel-After); 0 means none.
	CancelAfter time.Duration
}

// Create starts the prediction the core asks for (the pipeline.Models
// port): the webhook, when there is one, for the completed event only,
// and the start event when the core asks for progress.
func (c *Client) Create(ctx context.Context, r *pipeline.PredictionRequest) (string, error) {
	m, err := ParseModel(r.Model)
	if err != nil {
		return "", &Error{Op: "create prediction", Status: http.StatusBadRequest, Detail: err.Error()}
	}
	o := CreateOptions{CancelAfter: r.Deadline}
	if r.Webhook != "" {
		o.Webhook, o.Events = r.Webhook, []string{"completed"}
		if r.Progress {
			o.Events = []string{"start", "completed"}
		}
	}
	p, err := c.CreatePrediction(ctx, m, r.Input, o)
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

// CreatePrediction starts a prediction of model on input.
func (c *Client) CreatePrediction(ctx context.Context, m Model, input map[string]any, o CreateOptions) (*Prediction, error) {
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
	err = c.call(ctx, request{op: "create prediction", method: http.MethodPost, path: path, header: hdr, body: data}, &p)
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
	if err := c.call(ctx, request{op: "get prediction", method: http.MethodGet, path: "/predictions/" + id}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Cancel cancels a prediction, so that it is not billed further.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if !ValidID(id) {
		return &Error{Op: "cancel prediction", Status: http.StatusBadRequest, Detail: "invalid prediction id"}
	}
	return c.call(ctx, request{op: "cancel prediction", method: http.MethodPost, path: "/predictions/" + id + "/cancel"}, nil)
}
