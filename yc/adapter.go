// Package yc runs photobot's webhooks as Yandex Cloud Functions behind
// API Gateway: adapter.go turns any http.Handler into a function's handler
// (API Gateway's event in, its answer out), entry.go is the two functions'
// entries. Everything else is the same code `photobot serve` runs.
package yc

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Request is the event API Gateway passes to a function
// (payload_format_version 1.0, compatible with AWS API Gateway v1).
type Request struct {
	HTTPMethod                      string              `json:"httpMethod"`
	Path                            string              `json:"path"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	Body                            string              `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
	RequestContext                  struct {
		RequestID string `json:"requestId"`
		Identity  struct {
			SourceIP string `json:"sourceIp"`
		} `json:"identity"`
	} `json:"requestContext"`
}

// Response is what the function returns to API Gateway.
type Response struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers,omitempty"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// Handler is a function's handler as the Yandex runtime calls it: the
// event decoded from JSON into Request, the answer encoded from Response.
type Handler func(ctx context.Context, req *Request) (*Response, error)

// Wrap adapts h to a function behind API Gateway: it knows nothing of
// photobot.
func Wrap(h http.Handler) Handler {
	return func(ctx context.Context, req *Request) (*Response, error) {
		r, err := Decode(ctx, req)
		if err != nil {
			return &Response{StatusCode: http.StatusBadRequest, Body: `{"error":"malformed event"}`,
				Headers: map[string]string{"Content-Type": "application/json"}}, nil
		}
		return Serve(h, r), nil
	}
}

// Decode turns an API Gateway event into the http.Request it stands for:
// the body base64-decoded when flagged (signatures are checked on the raw
// bytes), headers canonicalized whatever case the gateway used.
func Decode(ctx context.Context, req *Request) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, err
		}
	}
	u := &url.URL{Path: req.Path}
	q := url.Values{}
	for k, vs := range req.MultiValueQueryStringParameters {
		q[k] = vs
	}
	for k, v := range req.QueryStringParameters {
		if _, ok := q[k]; !ok {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	method := req.HTTPMethod
	if method == "" {
		method = http.MethodPost
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range req.MultiValueHeaders {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	for k, v := range req.Headers {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, v)
		}
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = req.RequestContext.Identity.SourceIP
	return r, nil
}

// Serve runs h on r and packs the answer for API Gateway.
func Serve(h http.Handler, r *http.Request) *Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	resp := &Response{StatusCode: rec.Code, Headers: map[string]string{}}
	for k, vs := range rec.Header() {
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	body := rec.Body.Bytes()
	if utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return resp
}
