package pipeline

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is the bucket: the only state photobot keeps. Keys are plain
// strings such as "tasks/abc123.json"; the same layout is used on S3
// (package s3store) and on a local directory (package localstore).
//
// Correctness never depends on listing: every fact lives under a key that
// can be computed, and the only primitives are the ones below.
type Store interface {
	// Put writes an object unconditionally, streaming body. size is the
	// exact length of body, or -1 when unknown.
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error

	// Get reads a small object whole, with its ETag. It returns an error
	// wrapping ErrNotFound when key is absent.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)

	// Create writes data only if key is absent (If-None-Match: *). It
	// returns an error wrapping ErrExists when key is present or when a
	// concurrent conditional write won (S3 answers 412 or 409).
	Create(ctx context.Context, key string, data []byte) (etag string, err error)

	// Replace writes data only if the object's current ETag is etag
	// (If-Match). It returns an error wrapping ErrConflict when the object
	// changed or vanished meanwhile.
	Replace(ctx context.Context, key string, data []byte, etag string) (newETag string, err error)

	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// ImageStore keeps the user's photo and hands out a URL from which the
// model can read it: a presigned GET URL on S3, or a Replicate file URL
// when the bot runs without a bucket.
type ImageStore interface {
	StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (url string, err error)
}

// PresignTTL is how long the URL handed to the model stays valid.
const PresignTTL = time.Hour

// Errors returned by Store implementations.
var (
	ErrNotFound = errors.New("object not found")
	ErrExists   = errors.New("object already exists")
	ErrConflict = errors.New("object changed concurrently")
	// ErrRefused: the store refused the request itself (access denied, no
	// such bucket); retrying cannot help until the operator fixes it.
	ErrRefused = errors.New("refused by the store")
)
