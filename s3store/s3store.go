// Package s3store implements pipeline.Store and pipeline.ImageStore on an
// S3-compatible bucket (Yandex Object Storage, AWS S3, MinIO).
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/photobot/photobot/pipeline"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	Endpoint        string // e.g. https://storage.yandexcloud.net
	Region          string // e.g. ru-central1
	Bucket          string
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient is used for all requests; nil means a client with dial
	// and response-header timeouts and no overall timeout (bodies
	// stream; callers bound requests with context deadlines).
	HTTPClient *http.Client
}

// Store is a pipeline.Store and pipeline.ImageStore on one bucket.
type Store struct {
	bucket   string
	endpoint string
	client   *s3.Client
	presign  *s3.PresignClient
}

var (
	_ pipeline.Store      = (*Store)(nil)
	_ pipeline.ImageStore = (*Store)(nil)
)

// New returns a Store for cfg. It does not touch the network; use
// CheckBucket to verify the configuration.
func New(cfg Config) (*Store, error) {
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
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	client := s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		HTTPClient:   hc,
		// Since service/s3 v1.73 the SDK adds CRC32 checksums and
		// aws-chunked bodies by default, which S3-compatible stores reject.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
	})
	return &Store{
		bucket:   cfg.Bucket,
		endpoint: cfg.Endpoint,
		client:   client,
		presign:  s3.NewPresignClient(client),
	}, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 15 * time.Second
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t}
}

// Put writes key unconditionally. With size >= 0, body is streamed as is
// (it need not be seekable) and must hold exactly size bytes; it is sent
// as UNSIGNED-PAYLOAD since a SigV4 payload hash would need reading it
// twice. With size < 0, body is read into memory first.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if size < 0 {
		data, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("s3store: put %s: read body: %w", key, err)
		}
		body, size = bytes.NewReader(data), int64(len(data))
	}
	if _, ok := body.(io.Seeker); !ok {
		// smithy-go sends an *io.PipeReader with chunked encoding,
		// ignoring ContentLength, and S3 answers 411. Hide the type.
		body = struct{ io.Reader }{body}
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	_, err := s.client.PutObject(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		return failed("put", key, err)
	}
	return nil
}

// Get reads key whole. It returns an error wrapping pipeline.ErrNotFound
// when the key is absent.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		if keyMissing(err) {
			return nil, "", fmt.Errorf("s3store: get %s: %w", key, pipeline.ErrNotFound)
		}
		return nil, "", failed("get", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("s3store: get %s: read body: %w", key, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// Create writes key only if it is absent (If-None-Match: *). It returns
// an error wrapping pipeline.ErrExists when the key exists (412) or a
// concurrent conditional write won (409).
func (s *Store) Create(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := s.putBytes(ctx, key, data, func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
	if err != nil {
		switch statusCode(err) {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return "", fmt.Errorf("s3store: create %s: %w", key, pipeline.ErrExists)
		}
		return "", failed("create", key, err)
	}
	return etag, nil
}

// Replace writes key only if its current ETag is etag (If-Match). It
// returns an error wrapping pipeline.ErrConflict when the object changed
// (412), a concurrent conditional write won (409) or the key is gone (404).
func (s *Store) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	newETag, err := s.putBytes(ctx, key, data, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(etag) })
	if err != nil {
		switch statusCode(err) {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return "", fmt.Errorf("s3store: replace %s: %w", key, pipeline.ErrConflict)
		}
		if keyMissing(err) {
			return "", fmt.Errorf("s3store: replace %s: %w", key, pipeline.ErrConflict)
		}
		return "", failed("replace", key, err)
	}
	return newETag, nil
}

// putBytes writes a small state object (stored as application/json), letting cond add the precondition.
func (s *Store) putBytes(ctx context.Context, key string, data []byte, cond func(*s3.PutObjectInput)) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
	}
	cond(in)
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil && !keyMissing(err) {
		return failed("delete", key, err)
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
// without a request.
func (s *Store) Presign(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3store: presign %s: %w", key, err)
	}
	return req.URL, nil
}

// statusCode returns the HTTP status of a failed S3 call, or 0 when no
// response arrived.
// failed wraps an SDK error; a request the store refused for good (4xx
// other than the answers of conditional writes and throttling) also wraps
// pipeline.ErrRefused.
func failed(op, key string, err error) error {
	switch c := statusCode(err); {
	case c >= 400 && c < 500 && c != 404 && c != 408 && c != 409 && c != 412 && c != 429:
		return fmt.Errorf("s3store: %s %s: %w: %w", op, key, pipeline.ErrRefused, err)
	}
	return fmt.Errorf("s3store: %s %s: %w", op, key, err)
}

func statusCode(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil {
		return re.HTTPStatusCode() // 0 when the request was never answered
	}
	return 0
}

// keyMissing reports whether err is a 404 about the key (not the bucket).
func keyMissing(err error) bool {
	return statusCode(err) == http.StatusNotFound && errorCode(err) != "NoSuchBucket"
}

// errorCode returns the S3 error code (e.g. "NoSuchKey"), or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// List returns the keys under prefix. The bot never lists (its correctness
// must not depend on LIST consistency); operators and tests do.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}
