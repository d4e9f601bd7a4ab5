package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/storetest"
	"github.com/photobot/photobot/pipeline"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// newTestStore returns a Store on a fresh MinIO bucket, reached through
// endpoint when given (a recording proxy) or directly.
func newTestStore(t *testing.T, endpoint string) *Store {
	t.Helper()
	srv := miniotest.Start(t)
	if endpoint == "" {
		endpoint = srv.Endpoint
	}
	s, err := New(Config{
		Endpoint:        endpoint,
		Region:          srv.Region,
		Bucket:          srv.NewBucket(t),
		AccessKeyID:     srv.AccessKey,
		SecretAccessKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// withContentType lets the contract suite observe stored content types.
type withContentType struct{ *Store }

func (w withContentType) ContentType(ctx context.Context, key string) (string, error) {
	out, err := w.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ContentType), nil
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pipeline.Store { return withContentType{newTestStore(t, "")} })
}

// recordingProxy forwards to MinIO and records every request's headers,
// plus the body of lifecycle requests.
type recordingProxy struct {
	URL  string
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	Method string
	Query  url.Values
	Header http.Header
	Body   []byte
}

func newRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	target, err := url.Parse(miniotest.Start(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the signed Host header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordedRequest{Method: r.Method, Query: r.URL.Query(), Header: r.Header.Clone()}
		if rec.Query.Has("lifecycle") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rec.Body = body
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, rec)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	p.URL = ts.URL
	return p
}

func (p *recordingProxy) find(method, query string) []recordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []recordedRequest
	for _, r := range p.reqs {
		if r.Method == method && (query == "" || r.Query.Has(query)) {
			out = append(out, r)
		}
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pipeOf returns a non-seekable reader producing data in small writes.
func pipeOf(data []byte) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(data); off += 64 << 10 {
			end := min(off+64<<10, len(data))
			if _, err := pw.Write(data[off:end]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr
}

func TestPutStreamsNonSeekableBody(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()
	want := randomBytes(t, 5<<20+123)

	if err := s.Put(ctx, "images/big.jpg", pipeOf(want), int64(len(want)), "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}

	puts := proxy.find(http.MethodPut, "")
	if len(puts) != 1 {
		t.Fatalf("PUT requests = %d, want 1", len(puts))
	}
	if got := puts[0].Header.Get("X-Amz-Content-Sha256"); got != "UNSIGNED-PAYLOAD" {
		t.Errorf("x-amz-content-sha256 = %q, want UNSIGNED-PAYLOAD", got)
	}
	if got := puts[0].Header.Get("Content-Encoding"); got != "" {
		t.Errorf("Content-Encoding = %q, want none (no aws-chunked)", got)
	}
	got, _, err := s.Get(ctx, "images/big.jpg")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Get returned %d bytes, want the %d bytes put", len(got), len(want))
	}
	ct, err := withContentType{s}.ContentType(ctx, "images/big.jpg")
	if err != nil || ct != "image/jpeg" {
		t.Errorf("content type = %q, %v; want image/jpeg", ct, err)
	}
}

func TestStoreImagePresignedURL(t *testing.T) {
	s := newTestStore(t, "")
	ctx := context.Background()
	want := randomBytes(t, 300<<10)

	u, err := s.StoreImage(ctx, "images/photo.png", pipeOf(want), int64(len(want)), "image/png")
	if err != nil {
		t.Fatalf("StoreImage: %v", err)
	}
	if !strings.Contains(u, "X-Amz-Expires=3600") {
		t.Errorf("URL %s lacks X-Amz-Expires=3600", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read presigned body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET presigned URL: status %d, body %s", resp.StatusCode, got)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("presigned GET returned %d bytes, want the %d bytes stored", len(got), len(want))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("presigned GET Content-Type = %q, want image/png", ct)
	}

	u2, err := s.Presign(ctx, "images/photo.png", 5*time.Minute)
	if err != nil || !strings.Contains(u2, "X-Amz-Expires=300") {
		t.Errorf("Presign(5m) = %s, %v; want a URL with X-Amz-Expires=300", u2, err)
	}
}

func TestErrorsNameKeyNotSecret(t *testing.T) {
	s := newTestStore(t, "")
	srv := miniotest.Start(t)
	_, _, err := s.Get(context.Background(), "tasks/nope.json")
	if !errors.Is(err, pipeline.ErrNotFound) {
		t.Fatalf("Get missing: got err %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "tasks/nope.json") {
		t.Errorf("error %q does not name the key", err)
	}

	bad, err := New(Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: s.bucket,
		AccessKeyID: srv.AccessKey, SecretAccessKey: "wrong-secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, _, err := bad.Get(context.Background(), "k"); return err }(),
		bad.CheckBucket(context.Background()),
	} {
		if err == nil {
			t.Fatalf("request with a wrong secret succeeded")
		}
		if strings.Contains(err.Error(), "wrong-secret-value") || strings.Contains(err.Error(), "X-Amz-Signature") {
			t.Errorf("error leaks credentials: %v", err)
		}
	}
}

func TestMissingBucketIsNotMissingKey(t *testing.T) {
	srv := miniotest.Start(t)
	s, err := New(Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: "no-such-bucket-photobot",
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("Get in a missing bucket: got err %v, want a non-ErrNotFound error", err)
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Errorf("Delete in a missing bucket: got nil, want an error")
	}
	if _, err := s.Replace(ctx, "k", []byte("x"), `"x"`); err == nil || errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("Replace in a missing bucket: got err %v, want a non-ErrConflict error", err)
	}
}

func TestCheckBucket(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	cfg := Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadEndpoint := "http://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" means success
	}{
		{"ok", func(*Config) {}, ""},
		{"missing bucket", func(c *Config) { c.Bucket = "no-such-bucket-photobot" }, "bucket no-such-bucket-photobot does not exist"},
		{"wrong secret", func(c *Config) { c.SecretAccessKey = "wrong-secret-value" }, "access denied to bucket " + cfg.Bucket + ": check the keys"},
		{"unreachable", func(c *Config) { c.Endpoint = deadEndpoint }, "cannot reach endpoint " + deadEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.change(&c)
			s, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			err = s.CheckBucket(ctx)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckBucket: got err %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckBucket: got err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckConditionalWrites(t *testing.T) {
	s := newTestStore(t, "")
	ctx := context.Background()
	if err := s.CheckConditionalWrites(ctx); err != nil {
		t.Fatalf("CheckConditionalWrites on MinIO: %v", err)
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String("setup/")})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if len(out.Contents) != 0 {
		t.Errorf("objects left under setup/: %d, want 0", len(out.Contents))
	}
}

func TestLifecycleSendsContentMD5(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()

	rules, err := s.GetLifecycle(ctx)
	if err != nil || len(rules) != 0 {
		t.Fatalf("GetLifecycle before any put = %v, %v; want none, nil", rules, err)
	}

	want := []LifecycleRule{
		{ID: "expire-tasks", Prefix: "tasks/", Days: 2},
		{ID: "expire-images", Prefix: "images/", Days: 1},
	}
	if err := s.PutLifecycle(ctx, want); err != nil {
		t.Fatalf("PutLifecycle: %v", err)
	}

	puts := proxy.find(http.MethodPut, "lifecycle")
	if len(puts) != 1 {
		t.Fatalf("PUT ?lifecycle requests = %d, want 1", len(puts))
	}
	sum := md5.Sum(puts[0].Body)
	wantMD5 := base64.StdEncoding.EncodeToString(sum[:])
	if got := puts[0].Header.Get("Content-MD5"); got != wantMD5 {
		t.Errorf("Content-MD5 = %q, want base64(md5(body)) = %q", got, wantMD5)
	}
	if !strings.Contains(puts[0].Header.Get("Authorization"), "content-md5") {
		t.Errorf("Content-MD5 is not among the signed headers: %s", puts[0].Header.Get("Authorization"))
	}

	got, err := s.GetLifecycle(ctx)
	if err != nil {
		t.Fatalf("GetLifecycle: %v", err)
	}
	sortRules(got)
	sortRules(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetLifecycle = %+v, want %+v", got, want)
	}

	if err := s.PutLifecycle(ctx, []LifecycleRule{{ID: "x", Prefix: "x/", Days: 0}}); err == nil {
		t.Errorf("PutLifecycle with Days 0: got nil error, want one")
	}
}

func sortRules(r []LifecycleRule) {
	sort.Slice(r, func(i, j int) bool { return r[i].ID < r[j].ID })
}

func TestNewValidates(t *testing.T) {
	good := Config{Endpoint: "http://x", Region: "r", Bucket: "b", AccessKeyID: "a", SecretAccessKey: "s"}
	if _, err := New(good); err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
	for _, change := range []func(*Config){
		func(c *Config) { c.Endpoint = "" },
		func(c *Config) { c.Region = "" },
		func(c *Config) { c.Bucket = "" },
		func(c *Config) { c.AccessKeyID = "" },
		func(c *Config) { c.SecretAccessKey = "" },
	} {
		c := good
		change(&c)
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v): got nil error, want one", c)
		}
	}
}
