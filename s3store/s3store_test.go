package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photobot/photobot/internal/faultproxy"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/storetest"
	"github.com/photobot/photobot/pipeline"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// newTestStore returns a Store on a fresh MinIO bucket, reached through
// endpoint when given (a recording proxy) or directly.
func newTestStore(t testing.TB, endpoint string) *Store {
	t.Helper()
	return newTestStoreWith(t, endpoint, nil)
}

func newTestStoreWith(t testing.TB, endpoint string, hc *http.Client) *Store {
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
		HTTPClient:      hc,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// withContentType lets the contract suite observe stored content types.
type withContentType struct{ *Store }

func (w withContentType) ContentType(ctx context.Context, key string) (string, error) {
	info, err := w.client.StatObject(ctx, w.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return "", err
	}
	return info.ContentType, nil
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pipeline.Store { return withContentType{newTestStore(t, "")} })
}

// recordingProxy forwards to MinIO and records every request's headers,
// plus the body of lifecycle requests.
type recordingProxy struct {
	URL    string
	Client *http.Client // trusts the proxy's certificate, for TLS
	mu     sync.Mutex
	reqs   []recordedRequest
}

type recordedRequest struct {
	Method        string
	Path          string
	Query         url.Values
	Header        http.Header
	ContentLength int64
	Body          []byte
}

func newRecordingProxy(t *testing.T) *recordingProxy { return startRecordingProxy(t, false) }

// startRecordingProxy starts the proxy, on https when tls is set.
func startRecordingProxy(t *testing.T, tls bool) *recordingProxy {
	t.Helper()
	target, err := url.Parse(miniotest.Start(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the signed Host header
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), ContentLength: r.ContentLength}
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
	})
	var ts *httptest.Server
	if tls {
		ts = httptest.NewTLSServer(h)
	} else {
		ts = httptest.NewServer(h)
	}
	t.Cleanup(ts.Close)
	p.URL, p.Client = ts.URL, ts.Client()
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

func (p *recordingProxy) all() []recordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recordedRequest(nil), p.reqs...)
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

// TestPutStreamsNonSeekableBody: a photo is one PUT of UNSIGNED-PAYLOAD
// with its length, not aws-chunked (minio-go's default over plain http)
// and not multipart, over http and over https.
func TestPutStreamsNonSeekableBody(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tls]
		t.Run(name, func(t *testing.T) {
			proxy := startRecordingProxy(t, tls)
			s := newTestStoreWith(t, proxy.URL, proxy.Client)
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
			if puts[0].ContentLength != int64(len(want)) {
				t.Errorf("Content-Length = %d, want %d", puts[0].ContentLength, len(want))
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
		})
	}
}

// patternReader yields n pseudo-random bytes without holding them, and
// hashes what it yields.
type patternReader struct {
	left  int
	state uint64
	sum   hash.Hash
}

func newPatternReader(n int) *patternReader {
	return &patternReader{left: n, state: 0x9e3779b97f4a7c15, sum: md5.New()}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	var word [8]byte
	for i := 0; i < n; i += 8 { // eight bytes a step: the race detector makes bytes slow
		r.state ^= r.state << 13
		r.state ^= r.state >> 7
		r.state ^= r.state << 17
		binary.LittleEndian.PutUint64(word[:], r.state)
		copy(p[i:n], word[:])
	}
	r.sum.Write(p[:n])
	r.left -= n
	return n, nil
}

// TestPutBigPhotoIsStreamedInOnePut: a 20 MiB photo (over minio-go's
// 16 MiB multipart threshold) goes in one PUT, and is not buffered: the
// test process allocates far less than the photo while sending it.
func TestPutBigPhotoIsStreamedInOnePut(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()
	const size = 20 << 20
	body := newPatternReader(size)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := s.Put(ctx, "images/20mib.jpg", body, size, "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("Put of %d MiB allocated %d MiB: the body was buffered", size>>20, alloc>>20)
	}

	reqs := proxy.all()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPut || reqs[0].Query.Has("uploads") || reqs[0].Query.Has("partNumber") {
		t.Fatalf("requests = %+v, want one plain PUT (no multipart upload)", reqs)
	}
	info, err := s.client.StatObject(ctx, s.bucket, "images/20mib.jpg", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A single PUT's ETag is the MD5 of the object (a multipart one ends in -N).
	if want := hex.EncodeToString(body.sum.Sum(nil)); info.ETag != want || info.Size != size {
		t.Errorf("stored object: ETag %s, size %d; want %s, %d", info.ETag, info.Size, want, size)
	}
}

// TestPutUnknownSize: size -1 is read first (bounded) and sent as one PUT
// with a Content-Length, never as minio-go's buffered multipart upload.
func TestPutUnknownSize(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()
	want := randomBytes(t, 300<<10)
	if err := s.Put(ctx, "images/u.jpg", pipeOf(want), -1, "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	reqs := proxy.all()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPut || reqs[0].ContentLength != int64(len(want)) || reqs[0].Query.Has("uploads") {
		t.Errorf("requests = %+v, want one PUT with Content-Length %d", reqs, len(want))
	}

	huge := io.MultiReader(bytes.NewReader(make([]byte, MaxUnknownSize+1))) // of no known size
	err := s.Put(ctx, "images/huge.jpg", huge, -1, "image/jpeg")
	if err == nil || !strings.Contains(err.Error(), "over 20 MiB") {
		t.Errorf("Put of %d bytes of unknown size: got err %v, want one saying it is over 20 MiB", MaxUnknownSize+1, err)
	}
	if len(proxy.all()) != 1 {
		t.Errorf("the oversized put sent a request")
	}
}

// TestPutReportsTheBodysError: a body that fails (a broken download) is
// reported as such, not as the store's failure.
func TestPutReportsTheBodysError(t *testing.T) {
	s := newTestStore(t, "")
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 1000))
		pw.CloseWithError(errors.New("download broke"))
	}()
	err := s.Put(context.Background(), "images/broken.jpg", pr, 5000, "image/jpeg")
	if err == nil || !strings.Contains(err.Error(), "put images/broken.jpg: read body: download broke") {
		t.Errorf("Put of a failing body: got err %v, want one naming the body's error", err)
	}
	if _, _, err := s.Get(context.Background(), "images/broken.jpg"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("Get after the failed put: %v, want ErrNotFound (nothing stored)", err)
	}
}

func TestGetIsOneRequest(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()
	etag, err := s.Create(ctx, "tasks/one.json", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	n := len(proxy.all())
	if _, got, err := s.Get(ctx, "tasks/one.json"); err != nil || got != etag {
		t.Fatalf("Get = %s, %v; want etag %s", got, err, etag)
	}
	if _, _, err := s.Get(ctx, "tasks/none.json"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	reqs := proxy.all()[n:]
	if len(reqs) != 2 || reqs[0].Method != http.MethodGet || reqs[1].Method != http.MethodGet {
		t.Errorf("requests for two Gets = %+v, want two GETs (no HEAD)", reqs)
	}
}

// TestETagsRoundTrip: ETags are S3's quoted form, the same from Create,
// Replace and Get, and Replace takes them with or without quotes.
func TestETagsRoundTrip(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()
	data := []byte(`{"n":1}`)
	etag, err := s.Create(ctx, "quota/e.json", data)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if want := `"` + hex.EncodeToString(sum[:]) + `"`; etag != want {
		t.Errorf("Create etag = %s, want %s", etag, want)
	}
	if _, got, _ := s.Get(ctx, "quota/e.json"); got != etag {
		t.Errorf("Get etag = %s, want Create's %s", got, etag)
	}
	etag2, err := s.Replace(ctx, "quota/e.json", []byte(`{"n":2}`), etag)
	if err != nil {
		t.Fatalf("Replace with the quoted etag: %v", err)
	}
	if puts := proxy.find(http.MethodPut, ""); puts[len(puts)-1].Header.Get("If-Match") != etag {
		t.Errorf("If-Match = %q, want %q", puts[len(puts)-1].Header.Get("If-Match"), etag)
	}
	if _, err := s.Replace(ctx, "quota/e.json", []byte(`{"n":3}`), strings.Trim(etag2, `"`)); err != nil {
		t.Errorf("Replace with the bare etag: %v", err)
	}
	if puts := proxy.find(http.MethodPut, ""); puts[0].Header.Get("If-None-Match") != "*" {
		t.Errorf("Create's If-None-Match = %q, want *", puts[0].Header.Get("If-None-Match"))
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

// closedPort returns the URL of a port nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// TestPresignMakesNoRequest: presigning is local (no GetBucketLocation, no
// DNS-style lookup), so it works with nothing listening.
func TestPresignMakesNoRequest(t *testing.T) {
	s, err := New(Config{Endpoint: closedPort(t), Region: "ru-central1", Bucket: "photos",
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Presign(context.Background(), "images/a b.jpg", time.Hour)
	if err != nil {
		t.Fatalf("Presign with nothing listening: %v", err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	if pu.Path != "/photos/images/a b.jpg" || q.Get("X-Amz-Expires") != "3600" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDEXAMPLE/") || !strings.Contains(q.Get("X-Amz-Credential"), "/ru-central1/s3/") {
		t.Errorf("presigned URL %s: want path-style /photos/images/a%%20b.jpg, 1 h, signed for ru-central1", u)
	}
	if strings.Contains(u, "secret") {
		t.Errorf("presigned URL holds the secret: %s", u)
	}
}

// fakeS3 is an S3 endpoint of canned answers; it counts the requests.
type fakeS3 struct {
	*Store
	mu   sync.Mutex
	reqs []*http.Request
}

func newFakeS3(t *testing.T, region string, answer func(w http.ResponseWriter, r *http.Request)) *fakeS3 {
	t.Helper()
	f := &fakeS3{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(ts.Close)
	s, err := New(Config{Endpoint: ts.URL, Region: region, Bucket: "photos",
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wrong-secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	f.Store = s
	return f
}

func (f *fakeS3) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// s3Error writes an S3 error answer as AWS and Yandex do.
func s3Error(w http.ResponseWriter, status int, code, message, extra string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "4442587FB7D0A2F9")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>"+code+"</Code><Message>"+message+
		"</Message>"+extra+"<RequestId>4442587FB7D0A2F9</RequestId><HostId>hLhQ5Rs0Pk3qWOxE7b1Ym2h2cYvXVbS0=</HostId></Error>")
}

// TestConcurrentConditionalWriteConflict: Yandex Object Storage answers
// 409 ConditionalRequestConflict to a conditional write that races
// another; Create maps it to ErrExists and Replace to ErrConflict, and
// neither retries it.
func TestConcurrentConditionalWriteConflict(t *testing.T) {
	f := newFakeS3(t, "ru-central1", func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusConflict, "ConditionalRequestConflict",
			"The conditional request cannot succeed due to a conflicting operation against this resource.",
			"<Resource>/photos/claims/x.json</Resource>")
	})
	ctx := context.Background()
	_, err := f.Create(ctx, "claims/x.json", []byte(`{}`))
	if !errors.Is(err, pipeline.ErrExists) || errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("Create answered 409: got err %v, want ErrExists", err)
	}
	if n := f.count(); n != 1 {
		t.Errorf("Create sent %d requests, want 1 (a 409 is not retried)", n)
	}
	_, err = f.Replace(ctx, "claims/x.json", []byte(`{}`), `"abc"`)
	if !errors.Is(err, pipeline.ErrConflict) || errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("Replace answered 409: got err %v, want ErrConflict", err)
	}
	if n := f.count(); n != 2 {
		t.Errorf("Replace sent %d requests, want 1 (a 409 is not retried)", n-1)
	}
	if r := f.reqs[0]; r.Header.Get("If-None-Match") != "*" {
		t.Errorf("Create sent If-None-Match %q, want *", r.Header.Get("If-None-Match"))
	}
	if r := f.reqs[1]; r.Header.Get("If-Match") != `"abc"` {
		t.Errorf("Replace sent If-Match %q, want \"abc\"", r.Header.Get("If-Match"))
	}
}

// TestRetriesAreBounded: a failing request is tried twice at most, a
// stream that cannot be rewound once, and none after the context ends.
func TestRetriesAreBounded(t *testing.T) {
	slowDown := func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", "")
	}
	ctx := context.Background()

	t.Run("get", func(t *testing.T) {
		f := newFakeS3(t, "ru-central1", slowDown)
		start := time.Now()
		_, _, err := f.Get(ctx, "tasks/a.json")
		if err == nil || f.count() != 2 {
			t.Errorf("Get against SlowDown: %d requests, err %v; want 2 requests and an error", f.count(), err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Get took %v", d)
		}
		if errors.Is(err, pipeline.ErrRefused) {
			t.Errorf("a 503 is not a refusal: %v", err)
		}
	})
	t.Run("put rewindable", func(t *testing.T) {
		f := newFakeS3(t, "ru-central1", slowDown)
		if err := f.Put(ctx, "images/a.jpg", bytes.NewReader([]byte("jpeg")), 4, "image/jpeg"); err == nil || f.count() != 2 {
			t.Errorf("Put of a bytes.Reader: %d requests, err %v; want 2 requests and an error", f.count(), err)
		}
	})
	t.Run("put stream", func(t *testing.T) {
		f := newFakeS3(t, "ru-central1", slowDown)
		if err := f.Put(ctx, "images/a.jpg", pipeOf(make([]byte, 100<<10)), 100<<10, "image/jpeg"); err == nil || f.count() != 1 {
			t.Errorf("Put of a stream: %d requests, err %v; want 1 request (a stream is never resent) and an error", f.count(), err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := newFakeS3(t, "ru-central1", func(w http.ResponseWriter, r *http.Request) {
			cancel() // the caller gives up while the first attempt fails
			slowDown(w, r)
		})
		_, err := f.Create(ctx, "claims/a.json", []byte(`{}`))
		if !errors.Is(err, context.Canceled) || f.count() != 1 {
			t.Errorf("Create whose context ended: %d requests, err %v; want 1 request and context.Canceled", f.count(), err)
		}
	})
}

// TestWrongRegion: S3 answers a request signed for another region with
// AuthorizationHeaderMalformed naming the region it expects.
func TestWrongRegion(t *testing.T) {
	f := newFakeS3(t, "us-east-1", func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ru-central1'",
			"<Region>ru-central1</Region>")
	})
	err := f.CheckBucket(context.Background())
	want := "s3store: bucket photos at " + f.endpoint + " is in region ru-central1, not us-east-1 (400 AuthorizationHeaderMalformed): set S3_REGION=ru-central1"
	if err == nil || err.Error() != want {
		t.Errorf("CheckBucket:\n got %v\nwant %s", err, want)
	}
	if h := Hint(err); h != "set S3_REGION=ru-central1" {
		t.Errorf("Hint = %q, want set S3_REGION=ru-central1", h)
	}
	if !errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("a wrong region is a refusal: %v", err)
	}
	if f.count() != 1 {
		t.Errorf("CheckBucket sent %d requests, want 1 (no GetBucketLocation, no retry)", f.count())
	}
}

// TestWrongRegionMinIO: MinIO, too, refuses a request signed for another
// region than its own.
func TestWrongRegionMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s, err := New(Config{Endpoint: srv.Endpoint, Region: "ru-central1", Bucket: srv.NewBucket(t),
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	err = s.CheckBucket(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is in region "+srv.Region+", not ru-central1") || Hint(err) != "set S3_REGION="+srv.Region {
		t.Errorf("CheckBucket with the wrong region: got err %v (hint %q), want one saying set S3_REGION=%s", err, Hint(err), srv.Region)
	}
}

// TestErrorsAreOneCleanLine: what reaches an operator is one line naming
// the operation and the key, with no request id, XML or secret.
func TestErrorsAreOneCleanLine(t *testing.T) {
	ctx := context.Background()
	var errs []error
	f := newFakeS3(t, "ru-central1", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/html"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>\n")
		case strings.HasSuffix(r.URL.Path, "/teapot"):
			s3Error(w, http.StatusTeapot, "WeirdError", "Something\nodd   happened.", "")
		default:
			s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied", "")
		}
	})
	_, _, err := f.Get(ctx, "tasks/html")
	if want := "s3store: get tasks/html: 502 Bad Gateway"; err == nil || err.Error() != want {
		t.Errorf("Get answered with HTML: got %v, want %s", err, want)
	}
	errs = append(errs, err)
	_, _, err = f.Get(ctx, "tasks/teapot")
	if want := "s3store: get tasks/teapot: 418 WeirdError: Something odd happened."; err == nil || err.Error() != want || !errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("Get answered 418: got %v, want %s, wrapping ErrRefused", err, want)
	}
	errs = append(errs, err)
	err = f.Delete(ctx, "tasks/denied.json")
	want := "s3store: delete tasks/denied.json: access denied to bucket photos for access key id AKIDEXAMPLE (403 AccessDenied): " +
		"the service account of access key id AKIDEXAMPLE needs storage.editor on bucket photos"
	if err == nil || err.Error() != want || !errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("Delete answered 403:\n got %v\nwant %s", err, want)
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.Code != "AccessDenied" {
		t.Errorf("the error does not wrap minio's answer: %v", err)
	}
	errs = append(errs, err)

	dead, err := New(Config{Endpoint: closedPort(t), Region: "ru-central1", Bucket: "photos", AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wrong-secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.Create(ctx, "claims/c.json", []byte(`{}`))
	if err == nil || !strings.HasPrefix(err.Error(), "s3store: create claims/c.json: cannot reach S3_ENDPOINT_URL "+dead.endpoint+": connection refused") {
		t.Errorf("Create against a closed port: got %v", err)
	}
	errs = append(errs, err)
	u, err := dead.Presign(ctx, "images/x.jpg", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	for _, err := range errs {
		msg := err.Error()
		for _, bad := range []string{"\n", "4442587FB7D0A2F9", "RequestId", "<", "wrong-secret-value", "X-Amz-Signature", u, "http://127.0.0.1:"} {
			if bad == "http://127.0.0.1:" && strings.Contains(msg, "S3_ENDPOINT_URL") {
				continue // the configured endpoint is named on purpose
			}
			if strings.Contains(msg, bad) {
				t.Errorf("error %q contains %q", msg, bad)
			}
		}
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
		if !errors.Is(err, pipeline.ErrRefused) {
			t.Errorf("a wrong secret is a refusal: %v", err)
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
	if _, _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, pipeline.ErrNotFound) || !errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("Get in a missing bucket: got err %v, want a non-ErrNotFound ErrRefused", err)
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Errorf("Delete in a missing bucket: got nil, want an error")
	}
	if _, err := s.Replace(ctx, "k", []byte("x"), `"x"`); err == nil || errors.Is(err, pipeline.ErrConflict) {
		t.Errorf("Replace in a missing bucket: got err %v, want a non-ErrConflict error", err)
	}
	if _, err := s.Create(ctx, "k", []byte("x")); err == nil || errors.Is(err, pipeline.ErrExists) {
		t.Errorf("Create in a missing bucket: got err %v, want a non-ErrExists error", err)
	}
}

func TestCheckBucket(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	cfg := Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}
	deadEndpoint := closedPort(t)
	editor := " needs storage.editor on bucket " + cfg.Bucket

	tests := []struct {
		name     string
		change   func(*Config)
		wantErr  string // the whole message; "" means success
		wantHint string
	}{
		{"ok", func(*Config) {}, "", ""},
		{"missing bucket", func(c *Config) { c.Bucket = "no-such-bucket-photobot" },
			"s3store: bucket no-such-bucket-photobot does not exist at " + srv.Endpoint + ": create it, or check S3_BUCKET",
			"create it, or check S3_BUCKET"},
		{"wrong secret", func(c *Config) { c.SecretAccessKey = "wrong-secret-value" },
			"s3store: the secret key is not that of access key id miniotest (403 SignatureDoesNotMatch): " +
				"check AWS_SECRET_ACCESS_KEY: it must be the secret of access key id miniotest, whose service account" + editor,
			"check AWS_SECRET_ACCESS_KEY: it must be the secret of access key id miniotest, whose service account" + editor},
		{"unknown key", func(c *Config) { c.AccessKeyID = "nobody" },
			"s3store: access key id nobody is unknown at " + srv.Endpoint + " (403 InvalidAccessKeyId): " +
				"check AWS_ACCESS_KEY_ID: it must be a static access key of a service account that has storage.editor on bucket " + cfg.Bucket,
			"check AWS_ACCESS_KEY_ID: it must be a static access key of a service account that has storage.editor on bucket " + cfg.Bucket},
		{"unreachable", func(c *Config) { c.Endpoint = deadEndpoint },
			"s3store: cannot reach S3_ENDPOINT_URL " + deadEndpoint + ": connection refused: check S3_ENDPOINT_URL, and that this machine can reach it",
			"check S3_ENDPOINT_URL, and that this machine can reach it"},
		{"unknown host", func(c *Config) { c.Endpoint = "http://no-such-host.invalid" },
			"s3store: cannot reach S3_ENDPOINT_URL http://no-such-host.invalid: cannot resolve no-such-host.invalid",
			"check S3_ENDPOINT_URL, and that this machine can reach it"},
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
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("CheckBucket:\n got %v\nwant %s", err, tt.wantErr)
			}
			if h := Hint(err); h != tt.wantHint {
				t.Errorf("Hint = %q, want %q", h, tt.wantHint)
			}
		})
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		ts := httptest.NewUnstartedServer(http.NotFoundHandler())
		ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
		ts.StartTLS()
		defer ts.Close()
		c := cfg
		c.Endpoint = ts.URL
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		err = s.CheckBucket(ctx)
		want := "s3store: cannot reach S3_ENDPOINT_URL " + ts.URL + ": TLS: x509: certificate signed by unknown authority: check S3_ENDPOINT_URL"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("CheckBucket against an untrusted certificate:\n got %v\nwant %s...", err, want)
		}
	})

	t.Run("no answer", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
			}
		}()
		c := cfg
		c.Endpoint = "http://" + l.Addr().String()
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err = s.CheckBucket(ctx)
		want := "s3store: no answer from S3_ENDPOINT_URL " + c.Endpoint + " in time (context deadline exceeded): check S3_ENDPOINT_URL, and that this machine can reach it"
		if err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("CheckBucket against a silent endpoint:\n got %v\nwant %s", err, want)
		}
	})

	t.Run("context ended", func(t *testing.T) {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.CheckBucket(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("CheckBucket with an ended context: got %v, want context.Canceled", err)
		}
	})
}

func TestHintOfOtherErrors(t *testing.T) {
	if h := Hint(nil); h != "" {
		t.Errorf("Hint(nil) = %q", h)
	}
	if h := Hint(errors.New("x")); h != "" {
		t.Errorf("Hint(other) = %q", h)
	}
}

func TestCheckConditionalWrites(t *testing.T) {
	s := newTestStore(t, "")
	ctx := context.Background()
	if err := s.CheckConditionalWrites(ctx); err != nil {
		t.Fatalf("CheckConditionalWrites on MinIO: %v", err)
	}
	keys, err := s.List(ctx, "setup/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(keys) != 0 {
		t.Errorf("objects left under setup/: %v, want none", keys)
	}
}

func TestList(t *testing.T) {
	s := newTestStore(t, "")
	ctx := context.Background()
	for _, k := range []string{"tasks/a.json", "tasks/deep/b.json", "claims/c.json"} {
		if _, err := s.Create(ctx, k, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.List(ctx, "tasks/")
	sort.Strings(keys)
	if err != nil || !reflect.DeepEqual(keys, []string{"tasks/a.json", "tasks/deep/b.json"}) {
		t.Errorf("List(tasks/) = %v, %v; want both keys under tasks/, recursively", keys, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.List(ctx, "tasks/"); !errors.Is(err, context.Canceled) {
		t.Errorf("List with an ended context: %v, want context.Canceled", err)
	}
}

// TestLifecycleSendsContentMD5: Yandex Object Storage refuses a lifecycle
// configuration without Content-MD5; it must be on the wire, and signed.
func TestLifecycleSendsContentMD5(t *testing.T) {
	proxy := newRecordingProxy(t)
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()

	rules, err := s.GetLifecycle(ctx)
	if err != nil || len(rules) != 0 {
		t.Fatalf("GetLifecycle before any put = %v, %v; want none, nil", rules, err)
	}

	want := []pipeline.LifecycleRule{
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
	for _, part := range []string{
		"<Rule><Expiration><Days>2</Days></Expiration><ID>expire-tasks</ID><Filter><Prefix>tasks/</Prefix></Filter><Status>Enabled</Status></Rule>",
		"<Rule><Expiration><Days>1</Days></Expiration><ID>expire-images</ID><Filter><Prefix>images/</Prefix></Filter><Status>Enabled</Status></Rule>",
	} {
		if !strings.Contains(string(puts[0].Body), part) {
			t.Errorf("lifecycle body %s lacks %s", puts[0].Body, part)
		}
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

	if err := s.PutLifecycle(ctx, []pipeline.LifecycleRule{{ID: "x", Prefix: "x/", Days: 0}}); err == nil {
		t.Errorf("PutLifecycle with Days 0: got nil error, want one")
	}
}

// TestGetLifecycleReadsLegacyPrefix: rules written by other tools may put
// the prefix at the top of the rule rather than in Filter.
func TestGetLifecycleReadsLegacyPrefix(t *testing.T) {
	f := newFakeS3(t, "ru-central1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Rule><ID>legacy</ID><Prefix>tasks/</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>
<Rule><ID>filtered</ID><Filter><Prefix>images/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>
</LifecycleConfiguration>`)
	})
	got, err := f.GetLifecycle(context.Background())
	want := []pipeline.LifecycleRule{{ID: "legacy", Prefix: "tasks/", Days: 2}, {ID: "filtered", Prefix: "images/", Days: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GetLifecycle = %+v, %v; want %+v", got, err, want)
	}
}

func sortRules(r []pipeline.LifecycleRule) {
	sort.Slice(r, func(i, j int) bool { return r[i].ID < r[j].ID })
}

func TestNewValidates(t *testing.T) {
	good := Config{Endpoint: "http://x", Region: "r", Bucket: "b", AccessKeyID: "a", SecretAccessKey: "s"}
	if _, err := New(good); err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
	for _, change := range []func(*Config){
		func(c *Config) { c.Endpoint = "" },
		func(c *Config) { c.Endpoint = "storage.yandexcloud.net" },
		func(c *Config) { c.Endpoint = "ftp://storage.yandexcloud.net" },
		func(c *Config) { c.Endpoint = "https://storage.yandexcloud.net/photos" },
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

// GetAged tells an object's age by the bucket's clock (the answer's Date
// less the object's Last-Modified), whatever the client's clock says: a
// bucket whose clock moved 40 s since the write says 40 s.
func TestGetAgedUsesTheBucketsClock(t *testing.T) {
	var ahead atomic.Int64
	proxy := faultproxy.New(t, miniotest.Start(t).Endpoint)
	proxy.SetClock(func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	s := newTestStore(t, proxy.URL)
	ctx := context.Background()
	etag, err := s.Create(ctx, "updates/1.json", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, got, age, err := s.GetAged(ctx, "updates/1.json"); err != nil || got != etag || age < 0 || age > 2*time.Second {
		t.Errorf("fresh object: etag %s, age %v, %v; want %s, 0-2 s", got, age, err, etag)
	}
	ahead.Store(int64(40 * time.Second))
	if _, _, age, err := s.GetAged(ctx, "updates/1.json"); err != nil || age < 39*time.Second || age > 42*time.Second {
		t.Errorf("after the bucket's clock moved 40 s: age %v, %v; want 39-42 s", age, err)
	}
	if _, _, _, err := s.GetAged(ctx, "updates/none.json"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("missing key: %v; want ErrNotFound", err)
	}
}
