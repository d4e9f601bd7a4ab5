// Package replicate is photobot's client for the Replicate HTTP API (the
// pipeline.Models port, and what setup and doctor check), a file per
// resource, and the verifier of its webhooks.
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
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/internal/retry"
)

// DefaultAPIURL is Replicate's API base.
const DefaultAPIURL = "https://api.replicate.com/v1"

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

// request is one call of the API: op names it in errors.
type request struct {
	op, method, path string
	header           http.Header
	body             []byte
}

// call does one API request with bounded, context-aware retries, and reads
// the answer into out (unless nil).
func (c *Client) call(ctx context.Context, r request, out any) error {
	return c.Policy.Do(ctx, func(ctx context.Context) error { return c.once(ctx, r, out) },
		func(err error) (bool, time.Duration) {
			var e *Error
			if !c.retryable(r.method, err) || !errors.As(err, &e) {
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

func (c *Client) once(ctx context.Context, r request, out any) error {
	op := r.op
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, rd)
	if err != nil {
		return &Error{Op: op, Detail: err.Error(), err: err}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "photobot")
	resp, err := c.http.Do(req)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err // the operator needs the cause, not the whole URL
		}
		return &Error{Op: op, Detail: "cannot reach " + c.base + ": " + strings.ReplaceAll(cause.Error(), c.token, "<token>"), err: err}
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
