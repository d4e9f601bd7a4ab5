package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// A `photobot serve` killed mid-update or mid-delivery (a function
// timeout, an out-of-memory kill, a deploy) leaves its claim in the
// bucket. Restarted, and with the sender's redeliveries, the work must be
// redone within 30 s of the crash, exactly once.

// gate stands in front of a service: requests that match are held (the
// service never sees them) until the test opens it; requests held when the
// client goes away are dropped, never forwarded.
type gate struct {
	URL     string
	Arrived chan struct{} // one value per held request
	mu      sync.Mutex
	open    bool
}

func newGate(t *testing.T, target string, match func(*http.Request) bool) *gate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{Arrived: make(chan struct{}, 16)}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		hold := match(r) && !g.open
		g.mu.Unlock()
		if hold {
			// Read the body, so that the server notices when the client
			// goes away (it watches the connection only then).
			_, _ = io.Copy(io.Discard, r.Body)
			g.Arrived <- struct{}{}
			<-r.Context().Done() // the process that sent it is gone
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *gate) Open() {
	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
}

func waitArrived(t *testing.T, g *gate, s *Serve) {
	t.Helper()
	select {
	case <-g.Arrived:
	case <-time.After(20 * time.Second):
		t.Fatalf("the request never reached the gate\n%s", s.Tail(20))
	}
}

// waitKey waits until the bucket of s holds key.
func waitKey(t *testing.T, e *Env, s *Serve, key string) {
	t.Helper()
	st, err := e.Store(s.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := st.Get(context.Background(), key); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared\n%s", key, s.Tail(20))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restart starts serve again on the same port and bucket, as the platform
// does after a crash.
func restart(t *testing.T, e *Env, s *Serve, c ServeConfig) *Serve {
	t.Helper()
	c.Bucket, c.Port = s.Bucket, s.Port
	s2, err := e.StartServe(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.WaitReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s2
}

func TestCrashDuringDownloadIsRedoneWithin30s(t *testing.T) {
	t.Parallel()
	e, err := NewEnv(t, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t, e.TG.URL, func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/file/") })
	cfg := ServeConfig{Telegram: g.URL}
	s, err := e.StartServe(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	p := e.NewPhoto(e.NewChat(), e.Photo)
	go e.Post(context.Background(), s, p)
	waitArrived(t, g, s)                                         // serve waits for the photo...
	waitKey(t, e, s, fmt.Sprintf("updates/%d.json", p.UpdateID)) // ...and holds the update's claim
	s.Kill()
	crashed := time.Now()
	g.Open()
	s2 := restart(t, e, s, cfg)

	// Telegram delivers the update again: at once, then after 1, 2, 4, 8,
	// 16 s..., until it is answered 2xx.
	wait := time.Second
	for {
		a := e.Post(context.Background(), s2, p)
		if a.Status == http.StatusOK {
			break
		}
		if a.Status != http.StatusServiceUnavailable || time.Since(crashed) > time.Minute {
			t.Fatalf("redelivery answered %d %v\n%s", a.Status, a.Err, s2.Tail(20))
		}
		time.Sleep(wait) // Telegram's own schedule, not a condition
		wait *= 2
	}
	wantOneResultSoon(t, e, p, crashed, s2)
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions for one photo", n)
	}
}

func TestCrashDuringDeliveryIsRedoneWithin30s(t *testing.T) {
	t.Parallel()
	e, err := NewEnv(t, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	// Replicate retries a webhook that failed with exponential backoff for
	// about a minute.
	e.RP.WebhookBackoff, e.RP.WebhookRetries = time.Second, 6
	g := newGate(t, e.TG.URL, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/sendPhoto") })
	cfg := ServeConfig{Telegram: g.URL}
	s, err := e.StartServe(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	p := e.NewPhoto(e.NewChat(), e.Photo)
	if a := e.Post(context.Background(), s, p); !a.Accepted {
		t.Fatalf("photo not accepted: %d %q\n%s", a.Status, a.Text, s.Tail(20))
	}
	waitArrived(t, g, s) // serve holds the delivery's claim and sends the result
	s.Kill()
	crashed := time.Now()
	g.Open()
	s2 := restart(t, e, s, cfg)

	wantOneResultSoon(t, e, p, crashed, s2)
}

// wantOneResultSoon: the photo got its result within 30 s of the crash,
// and only one.
func wantOneResultSoon(t *testing.T, e *Env, p *Photo, crashed time.Time, s *Serve) {
	t.Helper()
	last, err := e.WaitResults([]*Photo{p}, time.Minute)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.Tail(20))
	}
	if took := last.Sub(crashed); took > 30*time.Second {
		t.Errorf("the photo's result came %v after the crash, want within 30 s", took.Round(time.Millisecond))
	} else {
		t.Logf("result %v after the crash", took.Round(time.Millisecond))
	}
	if got, _ := e.Results(); got[p.key()] != 1 {
		t.Errorf("%d results for the photo", got[p.key()])
	}
}
