// Package yc runs photobot's webhooks as Yandex Cloud Functions behind
// API Gateway. The function's entry point (index.go at the root of the
// uploaded zip, written by `make package`) only calls Telegram or
// Replicate here; everything else is the same code `photobot serve` runs.
package yc

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
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

// instance is built once per function instance: configuration parsed and
// clients made on the first call, reused by the next ones.
var instance struct {
	once     sync.Once
	telegram http.Handler
	callback http.Handler
	err      error
	log      *slog.Logger
}

func setup() {
	instance.once.Do(func() {
		cfg, err := config.Load(os.Getenv, config.Serve)
		level := slog.LevelInfo
		if cfg != nil {
			level = cfg.LogLevel
		}
		log := app.Logger(os.Stdout, level)
		instance.log = log
		if err != nil {
			instance.err = err
			return
		}
		b, err := app.New(cfg, log, config.Serve)
		if err != nil {
			instance.err = err
			return
		}
		instance.telegram = httpapi.Logged(log, httpapi.Telegram(b.Bot, cfg.TelegramWebhookSecret))
		instance.callback = httpapi.Logged(log, httpapi.Replicate(b.Bot, b.Verifier))
	})
}

// Telegram is fn-handler: Telegram's webhook.
func Telegram(ctx context.Context, req *Request) (*Response, error) {
	setup()
	return serve(ctx, instance.telegram, req), nil
}

// Replicate is fn-callback: Replicate's webhook.
func Replicate(ctx context.Context, req *Request) (*Response, error) {
	setup()
	return serve(ctx, instance.callback, req), nil
}

func serve(ctx context.Context, h http.Handler, req *Request) *Response {
	if instance.err != nil {
		// Every call says it, so the log shows it next to each failure;
		// Telegram and Replicate retry, so nothing is lost once fixed.
		instance.log.Error("function is misconfigured", "err", instance.err.Error())
		return &Response{StatusCode: http.StatusInternalServerError, Body: `{"error":"misconfigured"}`,
			Headers: map[string]string{"Content-Type": "application/json"}}
	}
	r, err := Decode(ctx, req)
	if err != nil {
		return &Response{StatusCode: http.StatusBadRequest, Body: `{"error":"malformed event"}`,
			Headers: map[string]string{"Content-Type": "application/json"}}
	}
	return Serve(h, r)
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
