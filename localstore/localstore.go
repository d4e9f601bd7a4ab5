// Package localstore implements pipeline.Store on a local directory, for
// running the bot without a cloud account. Key "tasks/x.json" is the file
// dir/tasks/x.json.
//
// Every write goes to a temporary file in the target directory that is
// then renamed (or, for Create, hard-linked) into place, so readers never
// see partial objects. Create is atomic even across processes: os.Link
// fails when the name exists. Replace (read, compare ETag, write) and the
// other writes are serialized by a mutex, so they are atomic within one
// process only: two processes sharing a directory may lose a Replace.
// Files are not fsynced; a crash may lose recent writes.
package localstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/photobot/photobot/pipeline"
)

// Store is a pipeline.Store on a directory.
type Store struct {
	dir string
}

var _ pipeline.Store = (*Store)(nil)

// mu serializes every change of a final file name in this process, so that
// Replace's read-compare-write cannot interleave with another write. It is
// shared by all Stores because several may point at the same directory.
var mu sync.Mutex

// tmpPrefix starts the names of temporary files.
const tmpPrefix = ".tmp-"

// New returns a Store on dir, creating dir if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	return &Store{dir: abs}, nil
}

// path validates key and returns its file name.
func (s *Store) path(key string) (string, error) {
	switch {
	case key == "":
		return "", errors.New("localstore: empty key")
	case strings.HasPrefix(key, "/") || filepath.IsAbs(key):
		return "", fmt.Errorf("localstore: key %q is absolute", key)
	case strings.Contains(key, ".."):
		return "", fmt.Errorf("localstore: key %q contains \"..\"", key)
	case strings.ContainsAny(key, "\\\x00"):
		return "", fmt.Errorf("localstore: key %q contains a backslash or NUL", key)
	case strings.HasSuffix(key, "/"):
		return "", fmt.Errorf("localstore: key %q ends with a slash", key)
	case strings.HasPrefix(filepath.Base(key), tmpPrefix):
		return "", fmt.Errorf("localstore: key %q looks like a temporary file", key)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put writes key unconditionally. When size >= 0, body must hold exactly
// size bytes. The content type is not kept.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(ctx, p, body, size)
	if err != nil {
		return fmt.Errorf("localstore: put %s: %w", key, err)
	}
	mu.Lock()
	err = os.Rename(tmp, p)
	mu.Unlock()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("localstore: put %s: %w", key, err)
	}
	return nil
}

// Get reads key whole. It returns an error wrapping pipeline.ErrNotFound
// when key is absent or is a directory.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	data, err := readFile(p)
	if err != nil {
		if isNotFound(err) {
			return nil, "", fmt.Errorf("localstore: get %s: %w", key, pipeline.ErrNotFound)
		}
		return nil, "", fmt.Errorf("localstore: get %s: %w", key, err)
	}
	return data, etagOf(data), nil
}

// Create writes key only if it is absent. It returns an error wrapping
// pipeline.ErrExists when key is present.
func (s *Store) Create(ctx context.Context, key string, data []byte) (string, error) {
	p, err := s.path(key)
	if err != nil {
		return "", err
	}
	tmp, err := writeTemp(ctx, p, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", fmt.Errorf("localstore: create %s: %w", key, err)
	}
	defer os.Remove(tmp)
	mu.Lock()
	err = os.Link(tmp, p)
	mu.Unlock()
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("localstore: create %s: %w", key, pipeline.ErrExists)
	}
	if err != nil {
		return "", fmt.Errorf("localstore: create %s: %w", key, err)
	}
	return etagOf(data), nil
}

// Replace writes key only if its current ETag is etag. It returns an
// error wrapping pipeline.ErrConflict when the object changed or is gone.
func (s *Store) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	p, err := s.path(key)
	if err != nil {
		return "", err
	}
	tmp, err := writeTemp(ctx, p, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", fmt.Errorf("localstore: replace %s: %w", key, err)
	}
	defer os.Remove(tmp) // no-op after a successful rename

	mu.Lock()
	defer mu.Unlock()
	cur, err := readFile(p)
	if isNotFound(err) {
		return "", fmt.Errorf("localstore: replace %s: %w", key, pipeline.ErrConflict)
	}
	if err != nil {
		return "", fmt.Errorf("localstore: replace %s: %w", key, err)
	}
	if strings.Trim(etag, `"`) != strings.Trim(etagOf(cur), `"`) {
		return "", fmt.Errorf("localstore: replace %s: %w", key, pipeline.ErrConflict)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("localstore: replace %s: %w", key, err)
	}
	return etagOf(data), nil
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(p)
	if isNotFound(err) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("localstore: delete %s: %w", key, err)
	}
	return nil
}

// writeTemp copies body into a new temporary file next to p, creating
// p's directory, and returns the temporary file's name.
func writeTemp(ctx context.Context, p string, body io.Reader, size int64) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"*")
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, ctxReader{ctx, body})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("body has %d bytes, want %d", n, size)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// readFile reads a regular file; a directory counts as absent.
func readFile(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fs.ErrNotExist
	}
	return os.ReadFile(p)
}

// isNotFound reports whether err means the file is absent, including when
// a parent "directory" is a file (ENOTDIR) or the name is a directory.
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}

// etagOf returns the S3-style ETag of data: its quoted hex MD5.
func etagOf(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// Pending returns the prediction ids of the tasks in the store (the keys
// tasks/{prediction_id}.json of pipeline/keys.go): the predictions a
// `photobot run` that stopped may have left unfinished. A bucket is not
// listed (its lifecycle rules clean it); a local directory may be.
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, "tasks"))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: listing tasks: %w", err)
	}
	var ids []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, tmpPrefix) {
			ids = append(ids, strings.TrimSuffix(name, ".json"))
		}
	}
	return ids, nil
}
