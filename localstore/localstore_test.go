package localstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/photobot/photobot/internal/storetest"
	"github.com/photobot/photobot/localstore"
	"github.com/photobot/photobot/pipeline"
)

func newStore(t *testing.T) *localstore.Store {
	t.Helper()
	s, err := localstore.New(filepath.Join(t.TempDir(), "bucket"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pipeline.Store { return newStore(t) })
}

func TestLayoutAndETag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bucket")
	s, err := localstore.New(dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	etag, err := s.Create(ctx, "tasks/x.json", []byte("hello"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if want := `"5d41402abc4b2a76b9719d911017c592"`; etag != want { // md5("hello")
		t.Errorf("etag = %s, want %s", etag, want)
	}
	got, err := os.ReadFile(filepath.Join(dir, "tasks", "x.json"))
	if err != nil || string(got) != "hello" {
		t.Errorf("file tasks/x.json = %q, %v; want %q", got, err, "hello")
	}
	if _, err := s.Replace(ctx, "tasks/x.json", []byte("bye"), etag); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if _, err := s.Create(ctx, "tasks/x.json", []byte("again")); !errors.Is(err, pipeline.ErrExists) {
		t.Errorf("Create existing: got err %v, want ErrExists", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "tasks"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "x.json" {
			t.Errorf("leftover file %s in tasks/", e.Name())
		}
	}
}

func TestDirectoryIsNotAnObject(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, "a/b/c.json", []byte("{}")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	for _, key := range []string{"a", "a/b", "a/b/c.json/d"} {
		if _, _, err := s.Get(ctx, key); !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("Get(%q): got err %v, want ErrNotFound", key, err)
		}
		if _, err := s.Replace(ctx, key, []byte("x"), `"x"`); err == nil {
			t.Errorf("Replace(%q): got nil error, want one", key)
		}
	}
	if err := s.Delete(ctx, "a/b"); err != nil {
		t.Errorf("Delete(a/b): got err %v, want nil", err)
	}
	if _, _, err := s.Get(ctx, "a/b/c.json"); err != nil {
		t.Errorf("Get after deleting the directory's key: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x", "a\\b", "a\x00b", "a/", "a/.tmp-1"} {
		if _, _, err := s.Get(ctx, key); err == nil || errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("Get(%q): got err %v, want a bad-key error", key, err)
		}
		if err := s.Put(ctx, key, strings.NewReader("x"), 1, ""); err == nil {
			t.Errorf("Put(%q): got nil error, want a bad-key error", key)
		}
		if _, err := s.Create(ctx, key, []byte("x")); err == nil {
			t.Errorf("Create(%q): got nil error, want a bad-key error", key)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q): got nil error, want a bad-key error", key)
		}
	}
}

func TestPutWrongSize(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "k", strings.NewReader("abc"), 5, ""); err == nil {
		t.Errorf("Put with a short body: got nil error, want one")
	}
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("Get after a failed Put: got err %v, want ErrNotFound", err)
	}
}

// TestCreateAcrossProcesses runs Create on one key from several processes
// (this test binary, re-executed): exactly one must win.
func TestCreateAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("LOCALSTORE_CREATE_DIR"); dir != "" {
		s, err := localstore.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Create(context.Background(), "claims/x.json", []byte(os.Getenv("LOCALSTORE_CREATE_ID")))
		switch {
		case err == nil:
			fmt.Println("RESULT won")
		case errors.Is(err, pipeline.ErrExists):
			fmt.Println("RESULT exists")
		default:
			t.Fatal(err)
		}
		return
	}

	dir := t.TempDir()
	const n = 8
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCreateAcrossProcesses$")
			cmd.Env = append(os.Environ(), "LOCALSTORE_CREATE_DIR="+dir, fmt.Sprintf("LOCALSTORE_CREATE_ID=%d", i))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	won := 0
	for i := 0; i < n; i++ {
		out := string(outs[i])
		switch {
		case errs[i] != nil:
			t.Errorf("process %d: %v\n%s", i, errs[i], out)
		case strings.Contains(out, "RESULT won"):
			won++
		case !strings.Contains(out, "RESULT exists"):
			t.Errorf("process %d printed no result:\n%s", i, out)
		}
	}
	if won != 1 {
		t.Errorf("processes that won = %d, want exactly 1", won)
	}
}

func TestPendingListsTheTasks(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if ids, err := s.Pending(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("empty store: %v, %v", ids, err)
	}
	for _, key := range []string{"tasks/abc.json", "tasks/def.json", "deliveries/abc.json", "tasks/sub/x.json"} {
		if _, err := s.Create(ctx, key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "tasks/def.json"); err != nil {
		t.Fatal(err)
	}
	ids, err := s.Pending(ctx)
	if err != nil || strings.Join(ids, ",") != "abc" {
		t.Errorf("Pending = %v, %v; want [abc]", ids, err)
	}
}
