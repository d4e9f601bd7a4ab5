// Package storetest is the contract every pipeline.Store must meet, run
// against each implementation by its own tests.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photobot/photobot/pipeline"
)

// ContentTyper may be implemented by the Store under test (or a test
// wrapper around it) when the content type given to Put is observable;
// Run then checks that it is kept.
type ContentTyper interface {
	ContentType(ctx context.Context, key string) (string, error)
}

// Run runs the contract suite. newStore must return an empty store; it is
// called once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) pipeline.Store) {
	t.Run("PutGet", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		want := []byte(`{"hello":"world"}`)
		if err := s.Put(ctx, "tasks/a1.json", bytes.NewReader(want), int64(len(want)), "application/json"); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, etag, err := s.Get(ctx, "tasks/a1.json")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Get data = %q, want %q", got, want)
		}
		if etag == "" {
			t.Errorf("Get etag is empty")
		}
		if ct, ok := s.(ContentTyper); ok {
			got, err := ct.ContentType(ctx, "tasks/a1.json")
			if err != nil {
				t.Fatalf("ContentType: %v", err)
			}
			if got != "application/json" {
				t.Errorf("content type = %q, want %q", got, "application/json")
			}
		}
	})

	t.Run("PutUnknownSizeNotSeekable", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		want := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
		body := io.MultiReader(bytes.NewReader(want[:1000]), bytes.NewReader(want[1000:]))
		if err := s.Put(ctx, "images/u1.bin", body, -1, "application/octet-stream"); err != nil {
			t.Fatalf("Put: %v", err)
		}
		got, _, err := s.Get(ctx, "images/u1.bin")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Get returned %d bytes, want the %d bytes put", len(got), len(want))
		}
	})

	t.Run("PutOverwrites", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		for _, v := range []string{"one", "two"} {
			if err := s.Put(ctx, "k.txt", strings.NewReader(v), int64(len(v)), "text/plain"); err != nil {
				t.Fatalf("Put %q: %v", v, err)
			}
		}
		got, _, err := s.Get(ctx, "k.txt")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if string(got) != "two" {
			t.Errorf("Get = %q, want %q", got, "two")
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		_, _, err := s.Get(ctx, "tasks/missing.json")
		if !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("Get missing: got err %v, want ErrNotFound", err)
		}
	})

	t.Run("CreateTwice", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		etag, err := s.Create(ctx, "claims/u1.json", []byte(`{"v":1}`))
		if err != nil {
			t.Fatalf("first Create: %v", err)
		}
		_, err = s.Create(ctx, "claims/u1.json", []byte(`{"v":2}`))
		if !errors.Is(err, pipeline.ErrExists) {
			t.Errorf("second Create: got err %v, want ErrExists", err)
		}
		got, gotETag, err := s.Get(ctx, "claims/u1.json")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if string(got) != `{"v":1}` {
			t.Errorf("Get = %s, want the first write {\"v\":1}", got)
		}
		if gotETag != etag {
			t.Errorf("Get etag = %s, want Create's etag %s", gotETag, etag)
		}
	})

	t.Run("CreateConcurrent", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		const n = 20
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			winners  int
			others   []error
			startGun = make(chan struct{})
		)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startGun
				_, err := s.Create(ctx, "claims/race.json", []byte(`{"ok":true}`))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners++
				case !errors.Is(err, pipeline.ErrExists):
					others = append(others, err)
				}
			}()
		}
		close(startGun)
		wg.Wait()
		if winners != 1 {
			t.Errorf("winners = %d, want exactly 1", winners)
		}
		for _, err := range others {
			t.Errorf("Create: got err %v, want nil or ErrExists", err)
		}
	})

	t.Run("ReplaceMatching", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		etag, err := s.Create(ctx, "quota/u1.json", []byte(`{"n":1}`))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		newETag, err := s.Replace(ctx, "quota/u1.json", []byte(`{"n":2}`), etag)
		if err != nil {
			t.Fatalf("Replace with the current etag: %v", err)
		}
		if newETag == "" || newETag == etag {
			t.Errorf("Replace etag = %q, want a new non-empty etag (old %q)", newETag, etag)
		}
		got, gotETag, err := s.Get(ctx, "quota/u1.json")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if string(got) != `{"n":2}` || gotETag != newETag {
			t.Errorf("Get = %s, %s; want {\"n\":2}, %s", got, gotETag, newETag)
		}
	})

	t.Run("ReplaceStale", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		stale, err := s.Create(ctx, "quota/u2.json", []byte(`{"n":1}`))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := s.Replace(ctx, "quota/u2.json", []byte(`{"n":2}`), stale); err != nil {
			t.Fatalf("first Replace: %v", err)
		}
		_, err = s.Replace(ctx, "quota/u2.json", []byte(`{"n":3}`), stale)
		if !errors.Is(err, pipeline.ErrConflict) {
			t.Errorf("Replace with a stale etag: got err %v, want ErrConflict", err)
		}
		got, _, err := s.Get(ctx, "quota/u2.json")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if string(got) != `{"n":2}` {
			t.Errorf("Get = %s, want {\"n\":2}", got)
		}
	})

	t.Run("ReplaceMissing", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		_, err := s.Replace(ctx, "quota/none.json", []byte(`{"n":1}`), `"0123456789abcdef0123456789abcdef"`)
		if !errors.Is(err, pipeline.ErrConflict) {
			t.Errorf("Replace missing: got err %v, want ErrConflict", err)
		}
	})

	t.Run("CASCounter", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		const key, n, maxTries = "quota/counter.json", 20, 500
		if _, err := s.Create(ctx, key, []byte(`{"n":0}`)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- increment(ctx, s, key, maxTries)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("increment: %v", err)
			}
		}
		data, _, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		var c counter
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("counter %s: %v", data, err)
		}
		if c.N != n {
			t.Errorf("counter = %d, want %d", c.N, n)
		}
	})

	t.Run("DeleteMissing", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		if err := s.Delete(ctx, "tasks/none.json"); err != nil {
			t.Errorf("Delete missing: got err %v, want nil", err)
		}
	})

	t.Run("DeleteThenGet", func(t *testing.T) {
		s, ctx := newStore(t), testContext(t)
		if _, err := s.Create(ctx, "tasks/d1.json", []byte(`{}`)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if err := s.Delete(ctx, "tasks/d1.json"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, _, err := s.Get(ctx, "tasks/d1.json"); !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("Get after Delete: got err %v, want ErrNotFound", err)
		}
		if _, err := s.Create(ctx, "tasks/d1.json", []byte(`{}`)); err != nil {
			t.Errorf("Create after Delete: got err %v, want nil", err)
		}
	})
}

type counter struct {
	N int `json:"n"`
}

// increment adds one to the counter at key with a Get/Replace loop,
// retrying on ErrConflict.
func increment(ctx context.Context, s pipeline.Store, key string, maxTries int) error {
	for try := 0; try < maxTries; try++ {
		data, etag, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		var c counter
		if err := json.Unmarshal(data, &c); err != nil {
			return err
		}
		c.N++
		next, _ := json.Marshal(c)
		_, err = s.Replace(ctx, key, next, etag)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pipeline.ErrConflict) {
			return err
		}
	}
	return errors.New("gave up after too many conflicts")
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
