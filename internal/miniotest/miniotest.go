// Package miniotest runs a real MinIO server for tests.
//
// One server is shared by all tests of a test binary. Use it like this:
//
//	func TestMain(m *testing.M) { miniotest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := miniotest.Start(t)
//		bucket := srv.NewBucket(t)
//		...
//	}
//
// The minio binary is taken from $MINIO_BIN, then from PATH, then from
// $(go env GOPATH)/bin. If none is found the test fails, saying to run
// `make tools` (which installs the pinned MinIO; the version is written
// only in the Makefile): it is never skipped, and nothing is installed
// from inside a test (that took minutes of silence on a fresh machine).
package miniotest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const readyTimeout = 30 * time.Second

// notFound is how a missing binary fails the test.
const notFound = "minio not found: run `make tools` (installs the pinned MinIO)"

// Server is a running MinIO server.
type Server struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Region    string

	dir    string // temp dir holding data, certs and minio.log
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	client *minio.Client
}

var (
	once      sync.Once
	shared    *Server
	errStart  error
	stopOnce  sync.Once
	bucketSeq atomic.Int64
)

// TB is what Start and NewBucket need of a test: testing.TB has it, and
// so has the bench's command, which runs MinIO outside a test.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Start returns the MinIO server shared by the test binary, starting it on
// first use. It fails the test if MinIO cannot be found or started.
func Start(tb TB) *Server {
	tb.Helper()
	once.Do(func() {
		shared, errStart = start()
		if errStart == nil {
			stopOnSignal()
		}
	})
	if errStart != nil {
		tb.Fatalf("miniotest: %v", errStart)
	}
	return shared
}

// Main runs the tests and then stops the server, so that no minio process
// outlives the test binary. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stop()
	os.Exit(code)
}

// NewBucket creates a fresh, uniquely named bucket and returns its name.
func (s *Server) NewBucket(tb TB) string {
	tb.Helper()
	name := fmt.Sprintf("test-%d-%s", bucketSeq.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		tb.Fatalf("miniotest: create bucket %s: %v", name, err)
	}
	return name
}

// stop kills the shared server, if any, and removes its files.
func stop() {
	stopOnce.Do(func() {
		if shared != nil {
			shared.kill()
		}
	})
}

// stopOnSignal stops the server when the test binary is interrupted, then
// lets the signal take its usual effect.
func stopOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		stop()
		reraise(sig)
	}()
}

func (s *Server) kill() {
	killGroup(s.cmd.Process)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	os.RemoveAll(s.dir)
}

func start() (*Server, error) {
	bin, err := findMinio()
	if err != nil {
		return nil, err
	}
	// The free port we pick may be taken before minio binds it: retry.
	for attempt := 1; ; attempt++ {
		srv, err := startOnce(bin)
		if err == nil || attempt == 3 {
			return srv, err
		}
		log.Printf("miniotest: %v; retrying", err)
	}
}

func startOnce(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
		AccessKey: "miniotest",
		SecretKey: "miniotest-secret",
		Region:    "us-east-1",
		dir:       dir,
		exited:    make(chan struct{}),
	}
	logPath := filepath.Join(dir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()

	s.cmd = exec.Command(bin, "server",
		"--address", "127.0.0.1:"+strconv.Itoa(port),
		"--certs-dir", filepath.Join(dir, "certs"),
		"--quiet",
		filepath.Join(dir, "data"))
	s.cmd.Env = append(childEnv(os.Environ()),
		"HOME="+dir,
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_REGION="+s.Region,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	s.cmd.SysProcAttr = sysProcAttr()

	// On Linux the child gets SIGKILL when the thread that started it
	// exits (Pdeathsig), so that minio dies with a crashed test binary.
	// Keep that thread alive, locked, for as long as minio runs.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}

	if err := s.waitReady(); err != nil {
		s.kill()
		return nil, fmt.Errorf("%w\nlast lines of %s:\n%s", err, logPath, tail(logPath, 30))
	}
	s.client, err = minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// waitReady polls the readiness endpoint until it answers 200.
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited during startup (%v)", s.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio not ready at %s after %v", s.Endpoint, readyTimeout)
}

// findMinio returns the path of a minio binary: $MINIO_BIN, else minio on
// PATH, else $(go env GOPATH)/bin/minio.
func findMinio() (string, error) {
	if p := os.Getenv("MINIO_BIN"); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("MINIO_BIN=%s is not an executable file", p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goCmd, "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("%s ($MINIO_BIN is unset, none is on PATH, and `go env GOPATH` failed: %v)", notFound, err)
	}
	gopath := strings.TrimSpace(string(out))
	if i := strings.IndexRune(gopath, filepath.ListSeparator); i >= 0 {
		gopath = gopath[:i]
	}
	target := filepath.Join(gopath, "bin", "minio"+exeSuffix())
	if !isExecutable(target) {
		return "", fmt.Errorf("%s (looked at $MINIO_BIN, PATH and %s)", notFound, target)
	}
	return target, nil
}

// childEnv is env without MINIO_* variables and HOME, which could change
// how minio starts (e.g. certificates in ~/.minio/certs turn on TLS).
func childEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") && !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0)
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(data), n)
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "(empty)"
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
