package faultproxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/faultproxy"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/s3store"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// store is an s3store on a fresh MinIO bucket, reached through a proxy.
func store(t *testing.T) (*s3store.Store, *faultproxy.Proxy) {
	t.Helper()
	m := miniotest.Start(t)
	p := faultproxy.New(t, m.Endpoint)
	s, err := s3store.New(s3store.Config{Endpoint: p.URL, Region: m.Region, Bucket: m.NewBucket(t),
		AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

func TestSignedRequestsAndPresignedURLsPassThrough(t *testing.T) {
	s, p := store(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, "updates/1.json", []byte(`{}`)); err != nil {
		t.Fatalf("create through the proxy: %v", err)
	}
	if _, err := s.Create(ctx, "updates/1.json", []byte(`{}`)); !errors.Is(err, pipeline.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists (MinIO's 412 through the proxy)", err)
	}
	u, err := s.StoreImage(ctx, "images/input/a.jpg", strings.NewReader("jpeg"), 4, "image/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, p.URL+"/") {
		t.Fatalf("presigned URL %q is not on the proxy", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "jpeg" {
		t.Fatalf("presigned GET: %d %q", resp.StatusCode, body)
	}
	reqs := p.Requests(http.MethodPut, "updates/")
	if len(reqs) != 2 || reqs[0].Status != 200 || reqs[1].Status != 412 || reqs[0].Header.Get("If-None-Match") != "*" {
		t.Errorf("recorded %v", reqs)
	}
}

func TestFailOnceIsRetriedBySDK(t *testing.T) {
	s, p := store(t)
	p.FailOnce(http.MethodPut, "tasks/", 503, "SlowDown")
	if err := s.Put(context.Background(), "tasks/a.json", bytes.NewReader([]byte("{}")), 2, "application/json"); err != nil {
		t.Fatalf("put after one SlowDown: %v", err)
	}
	reqs := p.Requests(http.MethodPut, "tasks/")
	if len(reqs) != 2 || reqs[0].Status != 503 || reqs[0].Fault != "fail" || reqs[1].Status != 200 {
		t.Errorf("recorded %v, want a 503 then a 200", reqs)
	}
}

func TestFailAlwaysAndClear(t *testing.T) {
	s, p := store(t)
	ctx := context.Background()
	p.FailAlways(http.MethodGet, "tasks/", 403, "AccessDenied")
	_, _, err := s.Get(ctx, "tasks/x.json")
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("get: %v, want AccessDenied", err)
	}
	if _, _, err := s.Get(ctx, "other/x.json"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("another prefix: %v, want not found", err)
	}
	p.Clear()
	if _, _, err := s.Get(ctx, "tasks/x.json"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("after Clear: %v, want not found", err)
	}
}

func TestStallEndsWhenTheClientGivesUp(t *testing.T) {
	s, p := store(t)
	p.StallOnce(http.MethodPut, "deliveries/", time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Create(ctx, "deliveries/a.json", []byte(`{}`)); err == nil {
		t.Fatal("create during a stall succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the client waited %v", d)
	}
	if !p.WaitApplied(1, 5*time.Second) {
		t.Fatal("stall not recorded")
	}
	// It never reached the server, and the next request passes.
	if _, err := s.Create(context.Background(), "deliveries/a.json", []byte(`{}`)); err != nil {
		t.Fatalf("create after the stall: %v", err)
	}
	r := p.Requests(http.MethodPut, "deliveries/")
	if len(r) != 2 || r[0].Fault != "stall" || r[0].Forwarded || r[0].Status != 0 || r[1].Status != 200 {
		t.Errorf("recorded %v", r)
	}
}

func TestStallAnswerDoesTheWork(t *testing.T) {
	s, p := store(t)
	p.Inject(faultproxy.Fault{Method: http.MethodPut, Prefix: "updates/", Header: "If-None-Match", Times: 1, StallAnswer: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Create(ctx, "updates/7.json", []byte(`{"state":"working"}`)); err == nil {
		t.Fatal("create with a lost answer succeeded")
	}
	p.WaitApplied(1, 5*time.Second)
	// The object was created all the same.
	data, _, err := s.Get(context.Background(), "updates/7.json")
	if err != nil || string(data) != `{"state":"working"}` {
		t.Fatalf("get: %q, %v", data, err)
	}
	r := p.Applied()
	if len(r) != 1 || !r[0].Forwarded || r[0].Upstream != 200 || r[0].Status != 0 {
		t.Errorf("recorded %+v", r)
	}
}

func TestPathSkipAndTimes(t *testing.T) {
	var hits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	p := faultproxy.New(t, backend.URL)
	p.Inject(faultproxy.Fault{Method: http.MethodPost, Path: "/bot1:x/sendPhoto", Skip: 1, Times: 1, Status: 500, Code: "InternalError"})
	var got []int
	for i := 0; i < 3; i++ {
		resp, err := http.Post(p.URL+"/bot1:x/sendPhoto", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	resp, err := http.Post(p.URL+"/bot1:x/sendMessage", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got[0] != 200 || got[1] != 500 || got[2] != 200 || resp.StatusCode != 200 || hits.Load() != 3 {
		t.Errorf("statuses %v then %d, %d hits; want 200 500 200, 200, 3 hits", got, resp.StatusCode, hits.Load())
	}
}
