// Package inmem holds small in-memory implementations of the core's ports
// (pipeline.Store, ImageStore, Chat, Models), for fast unit tests of the
// core. They do what the ports' contracts say and record what they were
// asked; faults are injected per call. The real parts are proven against
// MinIO and the HTTP fakes elsewhere.
package inmem

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/photobot/photobot/pipeline"
)

// Faults makes calls fail: the next calls of an operation, or every one.
type Faults struct {
	mu     sync.Mutex
	next   map[string][]error
	always map[string]error
}

// FailNext makes the next call of op fail with err (queued per op).
func (f *Faults) FailNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		f.next = map[string][]error{}
	}
	f.next[op] = append(f.next[op], err)
}

// FailAlways makes every call of op fail with err; nil clears it.
func (f *Faults) FailAlways(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.always == nil {
		f.always = map[string]error{}
	}
	f.always[op] = err
}

func (f *Faults) take(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if q := f.next[op]; len(q) > 0 {
		f.next[op] = q[1:]
		return q[0]
	}
	return f.always[op]
}

// Store is a pipeline.Store and ImageStore in memory. Store faults are
// keyed "put", "get", "create", "replace", "delete" and "image", and
// also "put tasks/" (an operation and a key prefix, of a lifecycle rule
// or a kept one).
type Store struct {
	Faults
	mu      sync.Mutex
	objects map[string][]byte
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{objects: map[string][]byte{}} }

var _ pipeline.Store = (*Store)(nil)

func etag(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

func (s *Store) fault(op, key string) error {
	if err := s.take(op); err != nil {
		return err
	}
	for _, p := range pipeline.LifecycleRules {
		if strings.HasPrefix(key, p.Prefix) {
			return s.take(op + " " + p.Prefix)
		}
	}
	for _, p := range pipeline.KeptPrefixes {
		if strings.HasPrefix(key, p) {
			return s.take(op + " " + p)
		}
	}
	return nil
}

// Put stores body under key.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if err := s.fault("put", key); err != nil {
		return err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(data)) != size {
		return fmt.Errorf("inmem: put %s: %d bytes, announced %d", key, len(data), size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = data
	return nil
}

// Get reads key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	if err := s.fault("get", key); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.objects[key]
	if !ok {
		return nil, "", fmt.Errorf("inmem: get %s: %w", key, pipeline.ErrNotFound)
	}
	return bytes.Clone(data), etag(data), nil
}

// Create writes key if it is absent.
func (s *Store) Create(ctx context.Context, key string, data []byte) (string, error) {
	if err := s.fault("create", key); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return "", fmt.Errorf("inmem: create %s: %w", key, pipeline.ErrExists)
	}
	s.objects[key] = bytes.Clone(data)
	return etag(data), nil
}

// Replace writes key if its ETag is etag.
func (s *Store) Replace(ctx context.Context, key string, data []byte, tag string) (string, error) {
	if err := s.fault("replace", key); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.objects[key]
	if !ok || etag(cur) != tag {
		return "", fmt.Errorf("inmem: replace %s: %w", key, pipeline.ErrConflict)
	}
	s.objects[key] = bytes.Clone(data)
	return etag(data), nil
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.fault("delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

// StoreImage puts the photo and returns a fake URL for it.
func (s *Store) StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (string, error) {
	if err := s.take("image"); err != nil {
		return "", err
	}
	if err := s.Put(ctx, key, body, size, contentType); err != nil {
		return "", err
	}
	return "https://bucket.example/" + key + "?X-Amz-Signature=secret", nil
}

// Keys lists the keys under prefix, sorted.
func (s *Store) Keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Object returns what key holds (nil when absent).
func (s *Store) Object(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.objects[key])
}
