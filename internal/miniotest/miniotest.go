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
// $(go env GOPATH)/bin. If none exists it is installed there with
// "go install" (a few minutes, once per machine). If that fails, the test
// fails: it is never skipped.
package miniotest

import (
	"bufio"
	"bytes"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MinioModule is the pinned version installed when no minio binary is found.
const MinioModule = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

const (
	readyTimeout   = 30 * time.Second
	installTimeout = 15 * time.Minute
)

// Server is a running MinIO server.
type Server struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Region    string

	dir    string // temp dir holding data, certs and minio.log
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	client *s3.Client
}

var (
	once      sync.Once
	shared    *Server
	errStart  error
	stopOnce  sync.Once
	bucketSeq atomic.Int64
)

// Start returns the MinIO server shared by the test binary, starting it on
// first use. It fails the test if MinIO cannot be found, installed or
// started.
func Start(tb testing.TB) *Server {
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
func (s *Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test-%d-%s", bucketSeq.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
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
	s.client = s3.New(s3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
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

// findMinio returns the path of a minio binary, installing it if needed.
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
		return "", fmt.Errorf("no minio binary ($MINIO_BIN unset, none on PATH) and `go env GOPATH` failed: %w", err)
	}
	gopath := strings.TrimSpace(string(out))
	if i := strings.IndexRune(gopath, filepath.ListSeparator); i >= 0 {
		gopath = gopath[:i]
	}
	binDir := filepath.Join(gopath, "bin")
	target := filepath.Join(binDir, "minio"+exeSuffix())
	if isExecutable(target) {
		return target, nil
	}
	if err := install(goCmd, binDir, target); err != nil {
		return "", err
	}
	return target, nil
}

// install runs "go install" for the pinned minio, holding a lock file so
// that concurrent test binaries install it only once.
func install(goCmd, binDir, target string) error {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "miniotest-install.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return fmt.Errorf("open install lock: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := lockFile(lock); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if isExecutable(target) { // another test binary installed it meanwhile
		return nil
	}
	log.Printf("miniotest: no minio binary found; installing %s into %s (takes ~2-3 min)", MinioModule, binDir)
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "install", MinioModule)
	cmd.Dir = os.TempDir() // outside any module
	// minio needs a newer Go than this module may pin: let go fetch it.
	cmd.Env = append(os.Environ(), "GOBIN="+binDir, "GOTOOLCHAIN=auto")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("no minio binary found and `go install %s` failed: %w\n%s\n"+
			"install minio yourself and set MINIO_BIN or put it on PATH", MinioModule, err, lastLines(out.String(), 30))
	}
	if !isExecutable(target) {
		return fmt.Errorf("go install %s succeeded but %s is missing", MinioModule, target)
	}
	log.Printf("miniotest: installed %s", target)
	return nil
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
