// Package faultproxy is a reverse proxy for tests that puts faults between
// a client and an HTTP server: above all an S3 server (MinIO), but it
// fronts any server.
//
// Point the client at Proxy.URL instead of the server, then Inject faults
// for the requests that match a method and a key prefix. Keys are read the
// way path-style S3 addresses objects: /bucket/key, so the key of
// "PUT /test-1/tasks/abc.json" is "tasks/abc.json". For servers that are not
// S3, match on the raw path with Fault.Path instead.
//
// Three kinds of fault:
//   - Fail: the request is answered with an S3 error (status, XML body with
//     Code and Message) and never reaches the server.
//   - Stall: the request is held for Stall before it is forwarded. A client
//     that gives up first ends the stall, and the request never reaches the
//     server: a slow network or an overloaded front end.
//   - StallAnswer: the request is forwarded and done, and its answer is
//     held for StallAnswer. A client that gives up meanwhile never learns
//     that the request succeeded: an answer lost on the way back.
//
// Every request is recorded (Requests) with what was answered to the client.
// The SigV4 signature of S3 requests covers the Host header, so the proxy
// forwards the client's Host unchanged, and presigned URLs made for the
// proxy's address work through it.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault is one injected fault and the requests it applies to.
type Fault struct {
	// Method matches the request method ("" for any).
	Method string
	// Prefix matches the object key (the path after /bucket/) by prefix;
	// "" matches every key.
	Prefix string
	// Path matches the raw URL path by prefix, for servers that are not
	// S3 (e.g. "/bot<token>/sendPhoto"); "" matches every path.
	Path string
	// Header, when set, must be present in the request (e.g. "If-None-Match"
	// for conditional creates).
	Header string

	// Skip lets this many matching requests pass before the fault applies.
	Skip int
	// Times is how many matching requests (after Skip) get the fault;
	// 0 means every one, until Clear.
	Times int

	// Status and Code make the fault a failure: the request is answered
	// with Status and an S3 error document carrying Code (e.g. 503
	// "SlowDown", 500 "InternalError", 403 "AccessDenied") and Message
	// (a standard one when empty).
	Status  int
	Code    string
	Message string
	// Stall holds the request this long before forwarding it.
	Stall time.Duration
	// StallAnswer forwards the request and holds its answer this long.
	StallAnswer time.Duration
}

func (f *Fault) kind() string {
	switch {
	case f.Status != 0:
		return "fail"
	case f.Stall > 0:
		return "stall"
	case f.StallAnswer > 0:
		return "stall answer"
	}
	return "none"
}

func (f *Fault) String() string {
	var what string
	switch f.kind() {
	case "fail":
		what = fmt.Sprintf("fail %d %s", f.Status, f.Code)
	case "stall":
		what = fmt.Sprintf("stall %v", f.Stall)
	case "stall answer":
		what = fmt.Sprintf("stall answer %v", f.StallAnswer)
	}
	m := f.Method
	if m == "" {
		m = "*"
	}
	return fmt.Sprintf("%s %s%s: %s", m, f.Path, f.Prefix, what)
}

// Request is a request the proxy received.
type Request struct {
	Method string
	Path   string // raw URL path
	Bucket string // first path segment
	Key    string // the rest of the path, unescaped
	Header http.Header
	At     time.Time
	// Fault names the fault applied ("" for none): "fail", "stall" or
	// "stall answer".
	Fault string
	// Status is what the client was answered; 0 when the client went away
	// before an answer (a stall it gave up on).
	Status int
	// Forwarded reports whether the request reached the server.
	Forwarded bool
	// Upstream is the server's status when it was forwarded.
	Upstream int
	Duration time.Duration
}

func (r Request) String() string {
	s := fmt.Sprintf("%s /%s/%s → %d", r.Method, r.Bucket, r.Key, r.Status)
	if r.Fault != "" {
		s += " (" + r.Fault + ")"
	}
	return s
}

// Proxy is a running fault proxy.
type Proxy struct {
	// URL is the proxy's base URL (http://127.0.0.1:port).
	URL string

	target    *url.URL
	srv       *httptest.Server
	transport *http.Transport
	done      chan struct{}

	mu       sync.Mutex
	clock    func() time.Time         // the bucket's clock; nil for the real one
	written  map[string]time.Duration // by bucket/key: the clock's offset when it was written
	faults   []*armed
	requests []Request
	changed  chan struct{}
}

type armed struct {
	Fault
	seen int // matching requests so far
}

// New starts a proxy in front of target (a base URL such as MinIO's
// endpoint); it is closed when the test ends.
func New(tb testing.TB, target string) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		tb.Fatalf("faultproxy: bad target %q", target)
	}
	p := &Proxy{
		target:    u,
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
		transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	tb.Cleanup(func() {
		close(p.done) // ends every stall
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
	return p
}

// SetClock makes the bucket's clock now, as the client sees it: every
// answer's Date is now(), and an object written through the proxy has
// its Last-Modified moved by how far now() was from the real time then.
// Objects age by that clock, so a test that moves it makes claims stale
// as the hours pass for the bot.
func (p *Proxy) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clock, p.written = now, map[string]time.Duration{}
}

// shiftClock rewrites the dates of an answer to the bucket's clock.
func (p *Proxy) shiftClock(r *http.Request, bucket, key string, resp *http.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clock == nil {
		return
	}
	now := p.clock()
	offset := time.Until(now)
	if resp.Header.Get("Date") != "" {
		resp.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	}
	name := bucket + "/" + key
	switch {
	case resp.StatusCode/100 != 2:
	case r.Method == http.MethodPut:
		p.written[name] = offset
	case r.Method == http.MethodDelete:
		delete(p.written, name)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
		if at, ok := p.written[name]; ok && err == nil {
			resp.Header.Set("Last-Modified", lm.Add(at).UTC().Format(http.TimeFormat))
		}
	}
}

// Inject arms a fault. Faults are tried in the order they were injected;
// the first that applies to a request wins.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &armed{Fault: f})
}

// FailOnce makes the next request matching method and key prefix fail
// with status and the S3 error code.
func (p *Proxy) FailOnce(method, prefix string, status int, code string) {
	p.Inject(Fault{Method: method, Prefix: prefix, Times: 1, Status: status, Code: code})
}

// FailAlways makes every request matching method and key prefix fail
// with status and the S3 error code, until Clear.
func (p *Proxy) FailAlways(method, prefix string, status int, code string) {
	p.Inject(Fault{Method: method, Prefix: prefix, Status: status, Code: code})
}

// StallOnce holds the next request matching method and key prefix for d
// before forwarding it (never, if the client gives up first).
func (p *Proxy) StallOnce(method, prefix string, d time.Duration) {
	p.Inject(Fault{Method: method, Prefix: prefix, Times: 1, Stall: d})
}

// Clear removes every fault (the record of requests is kept).
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Requests returns the recorded requests matching method ("" for any) and
// key prefix, in the order they were answered.
func (p *Proxy) Requests(method, prefix string) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.requests {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Key, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// Applied returns the recorded requests that got a fault.
func (p *Proxy) Applied() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.requests {
		if r.Fault != "" {
			out = append(out, r)
		}
	}
	return out
}

// WaitApplied waits until at least n requests got a fault, or timeout.
func (p *Proxy) WaitApplied(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got := 0
		for _, r := range p.requests {
			if r.Fault != "" {
				got++
			}
		}
		ch := p.changed
		p.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// split reads bucket and key from a path-style path.
func split(path string) (bucket, key string) {
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// take returns the fault that applies to r, if any, and counts it.
func (p *Proxy) take(r *http.Request, key string) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if !strings.HasPrefix(key, f.Prefix) || !strings.HasPrefix(r.URL.Path, f.Path) {
			continue
		}
		if f.Header != "" && r.Header.Get(f.Header) == "" {
			continue
		}
		f.seen++
		if f.seen <= f.Skip || (f.Times > 0 && f.seen > f.Skip+f.Times) {
			continue
		}
		ft := f.Fault
		return &ft
	}
	return nil
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, r)
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait sleeps d; it reports false when the client went away or the proxy
// closed first.
func (p *Proxy) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-p.done:
		return false
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	bucket, key := split(r.URL.Path)
	rec := Request{Method: r.Method, Path: r.URL.Path, Bucket: bucket, Key: key, Header: r.Header.Clone(), At: time.Now()}
	defer func() {
		rec.Duration = time.Since(rec.At)
		p.record(rec)
	}()
	f := p.take(r, key)
	if f != nil {
		rec.Fault = f.kind()
	}
	switch {
	case f != nil && f.Status != 0:
		_, _ = io.Copy(io.Discard, r.Body)
		rec.Status = f.Status
		writeError(w, r, f, bucket, key)
		return
	case f != nil && f.StallAnswer > 0:
		p.forwardLate(w, r, f.StallAnswer, &rec)
		return
	}
	var body io.Reader = r.Body
	if f != nil && f.Stall > 0 {
		// Read the body first: the server notices a client that hangs up
		// only once the body is consumed.
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if !p.wait(r.Context(), f.Stall) {
			return // the client gave up: the server never sees the request
		}
		body = bytes.NewReader(data)
	}
	resp, err := p.roundTrip(r.Context(), r, body)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		rec.Status = http.StatusBadGateway
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	rec.Forwarded, rec.Upstream = true, resp.StatusCode
	p.shiftClock(r, bucket, key, resp)
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	rec.Status = resp.StatusCode
}

// forwardLate does the request whatever the client does, then holds the
// answer for d: the client sees it only if it is still waiting.
func (p *Proxy) forwardLate(w http.ResponseWriter, r *http.Request, d time.Duration, rec *Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	resp, err := p.roundTrip(ctx, r, bytes.NewReader(body))
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rec.Forwarded, rec.Upstream = true, resp.StatusCode
	p.shiftClock(r, rec.Bucket, rec.Key, resp)
	if !p.wait(r.Context(), d) {
		return // the answer is lost
	}
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
	rec.Status = resp.StatusCode
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *Proxy) roundTrip(ctx context.Context, r *http.Request, body io.Reader) (*http.Response, error) {
	u := *r.URL
	u.Scheme, u.Host = p.target.Scheme, p.target.Host
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Host = r.Host // signed by SigV4
	out.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	return resp, nil
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
	for _, h := range hopHeaders {
		dst.Del(h)
	}
}

// messages are the S3 documentation's texts of common error codes.
var messages = map[string]string{
	"SlowDown":           "Please reduce your request rate.",
	"InternalError":      "We encountered an internal error, please try again.",
	"ServiceUnavailable": "Service is unable to handle request.",
	"AccessDenied":       "Access Denied.",
	"NoSuchBucket":       "The specified bucket does not exist",
	"NoSuchKey":          "The specified key does not exist.",
	"PreconditionFailed": "At least one of the pre-conditions you specified did not hold",
	"RequestTimeout":     "Your socket connection to the server was not read from or written to within the timeout period.",
}

type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	Key        string   `xml:"Key,omitempty"`
	BucketName string   `xml:"BucketName,omitempty"`
	Resource   string   `xml:"Resource"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}

var requestSeq struct {
	sync.Mutex
	n int
}

// writeError answers as S3 does: an XML error document (none for HEAD).
func writeError(w http.ResponseWriter, r *http.Request, f *Fault, bucket, key string) {
	msg := f.Message
	if msg == "" {
		msg = messages[f.Code]
	}
	requestSeq.Lock()
	requestSeq.n++
	id := fmt.Sprintf("FAULTPROXY%08X", requestSeq.n)
	requestSeq.Unlock()
	body, _ := xml.Marshal(s3Error{Code: f.Code, Message: msg, Key: key, BucketName: bucket,
		Resource: r.URL.Path, RequestID: id, HostID: "faultproxy"})
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", id)
	w.WriteHeader(f.Status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, xml.Header)
		_, _ = w.Write(body)
	}
}
