// Package s3store implements pipeline.Store and pipeline.ImageStore on an
// S3-compatible bucket (Yandex Object Storage, AWS S3, MinIO), through
// github.com/minio/minio-go/v7.
//
// minio-go is used with care, because several of its defaults do not suit
// photobot; each place that avoids one says so. In short: sizes are
// always known (an unknown size makes it allocate a 528 MiB part buffer
// for a multipart upload), multipart is off (a photo is one PUT), bodies
// are sent as UNSIGNED-PAYLOAD (not aws-chunked, which it uses over plain
// http), GET is one request, retries are 2 attempts at most and none for
// a stream that cannot be rewound, the region is given (so it never asks
// for the bucket's location), and its errors become one clean line
// (errors.go).
package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photobot/photobot/pipeline"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	Endpoint        string // e.g. https://storage.yandexcloud.net
	Region          string // e.g. ru-central1
	Bucket          string
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient's Transport carries all requests; nil means a transport
	// with dial and response-header timeouts and no overall timeout
	// (bodies stream; callers bound requests with context deadlines).
	// minio-go wraps the transport in an http.Client of its own, so the
	// client's Timeout, Jar and CheckRedirect are not used.
	HTTPClient *http.Client
}

// Store is a pipeline.Store and pipeline.ImageStore on one bucket.
type Store struct {
	bucket   string
	endpoint string // as configured, for messages
	keyID    string // the access key id, for messages (it is not a secret)
	region   string
	// client makes every request but the streamed puts: it retries a
	// failed request once (2 attempts).
	client *minio.Client
	// once makes the puts of a body that cannot be rewound: it never
	// retries (minio-go would retry them, see Put).
	once *minio.Client
}

var (
	_ pipeline.Store      = (*Store)(nil)
	_ pipeline.ImageStore = (*Store)(nil)
)

const (
	// attempts bounds minio-go's retries (its default is 10 attempts with
	// up to 1 s of backoff between them, which would hide a retry storm
	// inside photobot's own deadlines). Its backoff between the two is at
	// most 200 ms (minio.DefaultRetryUnit, full jitter) and ends with the
	// request's context.
	attempts = 2

	// MaxUnknownSize bounds a Put of unknown size, which is read into
	// memory first: photos are at most 20 MB (the Bot API's download
	// limit) and state objects are tiny.
	MaxUnknownSize = 20 << 20
)

// New returns a Store for cfg. It does not touch the network; use
// CheckBucket to verify the configuration.
func New(cfg Config) (*Store, error) {
	u, err := cfg.check()
	if err != nil {
		return nil, err
	}
	rt := cfg.transport() // one pool of connections for both clients
	client, err := cfg.client(u, rt, attempts)
	if err != nil {
		return nil, fmt.Errorf("s3store: endpoint %s: %w", cfg.Endpoint, err)
	}
	once, err := cfg.client(u, rt, 1)
	if err != nil {
		return nil, fmt.Errorf("s3store: endpoint %s: %w", cfg.Endpoint, err)
	}
	return &Store{
		bucket:   cfg.Bucket,
		endpoint: cfg.Endpoint,
		keyID:    cfg.AccessKeyID,
		region:   cfg.Region,
		client:   client,
		once:     once,
	}, nil
}

// check reports what is missing or malformed in cfg, and returns its
// endpoint parsed.
func (cfg *Config) check() (*url.URL, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, errors.New("s3store: endpoint is empty")
	case cfg.Region == "":
		return nil, errors.New("s3store: region is empty")
	case cfg.Bucket == "":
		return nil, errors.New("s3store: bucket is empty")
	case cfg.AccessKeyID == "" || cfg.SecretAccessKey == "":
		return nil, errors.New("s3store: access key ID and secret access key are required")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("s3store: endpoint %q: want http(s)://host[:port], without a path", cfg.Endpoint)
	}
	return u, nil
}

// transport is the configured client's, or the default.
func (cfg *Config) transport() http.RoundTripper {
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		return cfg.HTTPClient.Transport
	}
	return defaultTransport()
}

// client is a minio-go client for the endpoint u that tries each request
// up to maxAttempts times.
func (cfg *Config) client(u *url.URL, rt http.RoundTripper, maxAttempts int) (*minio.Client, error) {
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:    u.Scheme == "https",
		Transport: rt,
		// With the region given, minio-go never sends GetBucketLocation
		// (before the first request, or to presign).
		Region: cfg.Region,
		// Path style (endpoint/bucket/key): the endpoint is used as
		// configured, and presigning needs no lookup either.
		BucketLookup: minio.BucketLookupPath,
		// Per client; "1" means no retry. minio.MaxRetry, the global
		// default, is left alone.
		MaxRetries: maxAttempts,
	})
	if err != nil {
		return nil, err
	}
	// For AWS endpoints minio-go would switch to s3.dualstack hosts: keep
	// to S3_ENDPOINT_URL.
	c.SetS3EnableDualstack(false)
	return c, nil
}

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 15 * time.Second
	t.MaxIdleConnsPerHost = 32
	// Objects come back as stored, never transparently gunzipped.
	t.DisableCompression = true
	return t
}

// putOptions are the options of every PutObject.
func putOptions(contentType string) minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType: contentType,
		// Over plain http minio-go would sign the body in aws-chunked
		// form (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), hashing every chunk
		// and changing the bytes on the wire; with this it sends the body
		// as is, as UNSIGNED-PAYLOAD (or with the hash given to
		// Core.PutObject), over http and https alike.
		DisableContentSha256: true,
		// Known sizes over 16 MiB would become a multipart upload (and
		// buffer a part in memory): photos go up to 20 MB, in one PUT.
		DisableMultipart: true,
	}
}

// Put writes key unconditionally. With size >= 0, body is streamed as is
// (it need not be seekable) and must hold exactly size bytes; it is sent
// as UNSIGNED-PAYLOAD since a SigV4 payload hash would need reading it
// twice. With size < 0, body is read into memory first (at most
// MaxUnknownSize bytes).
//
// A failed put is retried once when body can be rewound (it is an
// io.ReaderAt and io.Seeker, e.g. *bytes.Reader), never otherwise.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if size < 0 {
		// Given size -1, minio-go starts a multipart upload and allocates
		// a part buffer of 528 MiB (5 TiB / 10000 parts, rounded up to
		// 16 MiB), even for a few bytes: read the body here, bounded, and
		// send one PUT of a known size.
		data, err := io.ReadAll(io.LimitReader(body, MaxUnknownSize+1))
		if err != nil {
			return &opError{op: "put", key: key, msg: "read body: " + err.Error(), errs: []error{err}}
		}
		if len(data) > MaxUnknownSize {
			return &opError{op: "put", key: key, msg: fmt.Sprintf("body of unknown size is over %d MiB", MaxUnknownSize>>20)}
		}
		body, size = bytes.NewReader(data), int64(len(data))
	}
	client := s.client
	var rec *recordingReader
	if !rewindable(body) {
		// minio-go wraps every body in a reader that claims to seek
		// (hookReader) and so would retry it after reading part of it.
		// A stream cannot be sent twice: one attempt.
		client = s.once
		rec = &recordingReader{r: body}
		body = rec
	}
	_, err := client.PutObject(ctx, s.bucket, key, body, size, putOptions(contentType))
	if err != nil {
		if rec != nil && rec.err != nil {
			// The body's own failure (e.g. the photo's download broke),
			// not the store's.
			return &opError{op: "put", key: key, msg: "read body: " + rec.err.Error(), errs: []error{rec.err, err}}
		}
		return s.failed("put", key, err)
	}
	return nil
}

// rewindable reports whether minio-go can send body again: it re-reads a
// ReaderAt from the offset it had (io.NewSectionReader). A Seeker alone is
// not enough: minio-go would seek it to 0, not to where it started.
func rewindable(body io.Reader) bool {
	_, at := body.(io.ReaderAt)
	_, seek := body.(io.Seeker)
	return at && seek
}

// recordingReader remembers the first error of the reader it wraps, so
// that Put can tell a failed body from a failed request (net/http reports
// both as the request's error). It hides any Seek or ReadAt of r.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// Get reads key whole. It returns an error wrapping pipeline.ErrNotFound
// when the key is absent.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	data, etag, _, err := s.GetAged(ctx, key)
	return data, etag, err
}

// GetAged is Get, with the object's age by the bucket's clock: the Date of
// the answer less the object's Last-Modified (-1 when the answer has no
// Date).
func (s *Store) GetAged(ctx context.Context, key string) ([]byte, string, time.Duration, error) {
	// Core.GetObject is one eager GET: its error (404 and all) and the
	// ETag come with its answer. Client.GetObject returns a lazy reader
	// fed by a goroutine, whose errors show only on Read, and asking it
	// for the ETag first (Stat) sends a HEAD before the GET.
	body, info, header, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		if keyMissing(err) {
			return nil, "", 0, &opError{op: "get", key: key, msg: pipeline.ErrNotFound.Error(), errs: []error{pipeline.ErrNotFound}}
		}
		return nil, "", 0, s.failed("get", key, err)
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, "", 0, s.failed("get", key, err)
	}
	age := time.Duration(-1)
	if date, err := http.ParseTime(header.Get("Date")); err == nil && !info.LastModified.IsZero() {
		age = max(date.Sub(info.LastModified), 0)
	}
	return data, quoteETag(info.ETag), age, nil
}

// quoteETag gives an ETag its quotes back. ETags are passed around as S3
// sends them ("<hex>", quotes included, as the other stores do), but
// minio-go returns them trimmed (and SetMatchETag quotes what it is given).
func quoteETag(etag string) string {
	if etag == "" {
		return ""
	}
	return `"` + etag + `"`
}

// Create writes key only if it is absent (If-None-Match: *). It returns
// an error wrapping pipeline.ErrExists when the key exists (412) or a
// concurrent conditional write won (409 ConditionalRequestConflict, which
// Yandex Object Storage answers to racing conditional writes).
func (s *Store) Create(ctx context.Context, key string, data []byte) (string, error) {
	opts := putOptions("application/json")
	opts.SetMatchETagExcept("*") // If-None-Match: *
	etag, err := s.putBytes(ctx, key, data, opts)
	if err != nil {
		switch statusCode(err) {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return "", &opError{op: "create", key: key, msg: pipeline.ErrExists.Error(), errs: []error{pipeline.ErrExists, err}}
		}
		return "", s.failed("create", key, err)
	}
	return etag, nil
}

// Replace writes key only if its current ETag is etag (If-Match). It
// returns an error wrapping pipeline.ErrConflict when the object changed
// (412), a concurrent conditional write won (409) or the key is gone (404).
func (s *Store) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	opts := putOptions("application/json")
	// SetMatchETag adds the quotes itself: hand it the bare ETag, or it
	// would send If-Match: ""<hex>"" and never match.
	opts.SetMatchETag(strings.Trim(etag, `"`))
	newETag, err := s.putBytes(ctx, key, data, opts)
	if err != nil {
		if c := statusCode(err); c == http.StatusPreconditionFailed || c == http.StatusConflict || keyMissing(err) {
			return "", &opError{op: "replace", key: key, msg: pipeline.ErrConflict.Error(), errs: []error{pipeline.ErrConflict, err}}
		}
		return "", s.failed("replace", key, err)
	}
	return newETag, nil
}

// putBytes writes a small state object in one PUT with its SHA-256 signed
// (Core.PutObject takes the hash; state objects are tiny, so hashing them
// costs nothing and protects them on plain http too). A *bytes.Reader
// rewinds, so the client may retry it.
func (s *Store) putBytes(ctx context.Context, key string, data []byte, opts minio.PutObjectOptions) (string, error) {
	sum := sha256.Sum256(data)
	info, err := minio.Core{Client: s.client}.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		"", hex.EncodeToString(sum[:]), opts)
	if err != nil {
		return "", err
	}
	return quoteETag(info.ETag), nil
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !keyMissing(err) {
		return s.failed("delete", key, err)
	}
	return nil
}

// StoreImage puts the image at key and returns a presigned GET URL valid
// for pipeline.PresignTTL.
func (s *Store) StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (string, error) {
	if err := s.Put(ctx, key, body, size, contentType); err != nil {
		return "", err
	}
	return s.Presign(ctx, key, pipeline.PresignTTL)
}

// Presign returns a GET URL for key valid for ttl. It is computed locally,
// without a request (the region is known and the URL is path style).
// Neither the URL nor the secret ever appears in an error.
func (s *Store) Presign(ctx context.Context, key string, ttl time.Duration) (string, error) {
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", s.failed("presign", key, err)
	}
	return u.String(), nil
}

// List returns the keys under prefix. The bot never lists (its correctness
// must not depend on LIST consistency); operators and tests do.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, s.failed("list", prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	// The listing ends quietly, not with an error, when the context has.
	if err := ctx.Err(); err != nil {
		return nil, s.failed("list", prefix, err)
	}
	return keys, nil
}
