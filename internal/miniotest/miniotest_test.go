package miniotest

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartIsSharedAndReady(t *testing.T) {
	s1, s2 := Start(t), Start(t)
	if s1 != s2 {
		t.Fatalf("Start returned two servers, want one shared server")
	}
	if !strings.HasPrefix(s1.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q, want http://127.0.0.1:port", s1.Endpoint)
	}
	if s1.AccessKey == "" || s1.SecretKey == "" || s1.Region == "" {
		t.Errorf("AccessKey, SecretKey, Region = %q, %q, %q; want all set", s1.AccessKey, s1.SecretKey, s1.Region)
	}
	resp, err := http.Get(s1.Endpoint + "/minio/health/ready")
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health status = %d, want 200", resp.StatusCode)
	}
	if _, err := os.Stat(s1.dir); err != nil {
		t.Errorf("temp dir: %v", err)
	}
}

func TestNewBucket(t *testing.T) {
	s := Start(t)
	b1, b2 := s.NewBucket(t), s.NewBucket(t)
	if b1 == b2 {
		t.Fatalf("NewBucket returned %q twice, want distinct names", b1)
	}
	for _, b := range []string{b1, b2} {
		if ok, err := s.client.BucketExists(context.Background(), b); !ok || err != nil {
			t.Errorf("BucketExists(%s) = %v, %v; want true, nil", b, ok, err)
		}
	}
}

func TestLastLines(t *testing.T) {
	if got, want := lastLines("a\nb\nc\n", 2), "b\nc"; got != want {
		t.Errorf("lastLines = %q, want %q", got, want)
	}
	if got, want := lastLines("", 2), "(empty)"; got != want {
		t.Errorf("lastLines(\"\") = %q, want %q", got, want)
	}
}

func TestFindMinioHonoursMinioBin(t *testing.T) {
	t.Setenv("MINIO_BIN", "/nonexistent/minio")
	_, err := findMinio()
	if err == nil || !strings.Contains(err.Error(), "MINIO_BIN=/nonexistent/minio") {
		t.Errorf("findMinio with a bad MINIO_BIN: got err %v, want one naming MINIO_BIN", err)
	}

	exe, err := os.Executable() // any executable file will do
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MINIO_BIN", exe)
	if got, err := findMinio(); err != nil || got != exe {
		t.Errorf("findMinio = %q, %v; want %q, nil", got, err, exe)
	}
}

func TestFindMinioFailsWithoutInstalling(t *testing.T) {
	t.Setenv("MINIO_BIN", "")
	t.Setenv("PATH", t.TempDir())   // no minio on PATH (and no go: GOPATH is asked of the toolchain's go)
	t.Setenv("GOPATH", t.TempDir()) // an empty GOPATH: no bin/minio
	start := time.Now()
	_, err := findMinio()
	if err == nil || !strings.Contains(err.Error(), "minio not found: run `make tools` (installs the pinned MinIO)") {
		t.Fatalf("findMinio with no minio anywhere: got err %v, want the `make tools` message", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("findMinio took %v: it must fail at once, not install", d)
	}
}
