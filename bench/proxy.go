package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/photobot/photobot/internal/fake"
)

// delayProxy forwards every request to a service after a fixed delay: the
// network between photobot and Telegram, Replicate or the bucket. The Host
// header is kept, since S3 signatures cover it.
type delayProxy struct {
	URL      string
	Requests atomic.Int64
	Delay    atomic.Int64 // nanoseconds added to every request
	// Upstream is the time the service took to answer (to the response
	// headers), summed over the requests, without the added delay.
	Upstream atomic.Int64
}

func newDelayProxy(tb fake.TB, target string, delay time.Duration) *delayProxy {
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("proxy target %q: %v", target, err)
	}
	p := &delayProxy{}
	p.Delay.Store(int64(delay))
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: delayTransport{delay: &p.Delay, upstream: &p.Upstream, next: transport},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Requests.Add(1)
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})
	p.URL = srv.URL
	return p
}

type delayTransport struct {
	delay, upstream *atomic.Int64
	next            http.RoundTripper
}

func (d delayTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if delay := time.Duration(d.delay.Load()); delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
	}
	start := time.Now()
	resp, err := d.next.RoundTrip(r)
	d.upstream.Add(int64(time.Since(start)))
	return resp, err
}
