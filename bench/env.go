package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/s3store"
)

// Credentials of the fakes, as internal/testenv uses them.
const (
	botToken       = "123456:TEST-bot-token_0123456789abcdef"
	replicateToken = "r8_TESTreplicatetoken0123456789"
	webhookSecret  = "tg-webhook-secret_42"
	// acceptedText is the answer to a photo taken (language_code "ru").
	acceptedText = "Фото получил, обрабатываю…"
)

// Env is what `photobot serve` runs against in a measurement: a real MinIO,
// the fakes of Telegram and Replicate (in this process), and the photobot
// binary, built once.
type Env struct {
	tb       fake.TB
	Dir      string // work directory: the binary, serve logs
	Root     string // the module's root directory
	Bin      string // the photobot binary
	MinIO    *miniotest.Server
	MinioPID int // 0 when not found
	TG       *fake.Telegram
	RP       *fake.Replicate
	// ResultOrigins are other fakes serving outputs (a load's mix).
	ResultOrigins []string

	// Photo is the largest size of an ordinary photo (a 1280x960 JPEG);
	// small and medium are the other sizes Telegram sends with it.
	Photo, small, medium []byte
	template             map[string]any // testdata/telegram/update_photo.json

	updateSeq atomic.Int64
	chatSeq   atomic.Int64
	mu        sync.Mutex
	msgSeq    map[int64]int
	client    *http.Client
}

// NewEnv builds the binary into dir and starts MinIO and the fakes. The
// fakes stop with tb's cleanups; MinIO is shared by the process (see
// internal/miniotest) and keeps its data under minioTmp ("": the usual
// temporary directory).
func NewEnv(tb fake.TB, dir, minioTmp string) (*Env, error) {
	e := &Env{tb: tb, Dir: dir, msgSeq: map[int64]int{}}
	e.updateSeq.Store(int64(rand.N(1<<20)) * 1000)
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "go.mod") {
		return nil, fmt.Errorf("cannot find the module root (go env GOMOD: %q, %v)", out, err)
	}
	e.Root = filepath.Dir(strings.TrimSpace(string(out)))
	e.Bin = filepath.Join(dir, "photobot")
	// The tag lets the fakes' outputs (http on loopback) count as results.
	build := exec.Command("go", "build", "-tags", "photobot_fake_results", "-o", e.Bin, "./cmd/photobot")
	build.Dir = e.Root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/photobot: %v\n%s", err, out)
	}
	tmpl, err := os.ReadFile(filepath.Join(e.Root, "testdata", "telegram", "update_photo.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(tmpl, &e.template); err != nil {
		return nil, fmt.Errorf("update_photo.json: %w", err)
	}

	if minioTmp != "" {
		// miniotest takes its directory from TMPDIR; only MinIO's start
		// should see ours (a RAM disk may not allow executables).
		old, had := os.LookupEnv("TMPDIR")
		os.Setenv("TMPDIR", minioTmp)
		e.MinIO = miniotest.Start(tb)
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
	} else {
		e.MinIO = miniotest.Start(tb)
	}
	e.MinioPID = childPID("minio")
	e.TG = fake.NewTelegram(tb, botToken)
	e.RP = fake.NewReplicate(tb, replicateToken)
	e.Photo, e.small, e.medium = photoJPEG(1280, 960), fake.JPEG(90, 68), fake.JPEG(320, 240)
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}}
	tb.Cleanup(e.client.CloseIdleConnections)
	return e, nil
}

// photoJPEG is a w×h JPEG with some noise, so that it weighs what a
// photo of that size weighs (about 150-250 KB at 1280x960), not what a flat
// gradient does.
func photoJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(r.IntN(24))
			img.SetRGBA(x, y, color.RGBA{uint8(x*200/w) + n, uint8(y*200/h) + n, 100 + n, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// bigPhoto is size bytes that photobot takes for a JPEG: a JPEG header
// followed by noise (photobot only sniffs the first 512 bytes).
func bigPhoto(size int) []byte {
	b := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(b)
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00})
	return b
}

// NewBucket makes a fresh bucket in MinIO.
func (e *Env) NewBucket() string { return e.MinIO.NewBucket(e.tb) }

// Store opens a bucket for assertions.
func (e *Env) Store(bucket string) (*s3store.Store, error) {
	return s3store.New(s3store.Config{Endpoint: e.MinIO.Endpoint, Region: e.MinIO.Region, Bucket: bucket,
		AccessKeyID: e.MinIO.AccessKey, SecretAccessKey: e.MinIO.SecretKey})
}

// ---- photobot serve ----

// ServeConfig says where a serve process finds its services.
type ServeConfig struct {
	// Telegram, Replicate (including /v1) and S3 are the API bases; empty
	// means the fakes and MinIO themselves.
	Telegram, Replicate, S3 string
	// Vars are extra environment variables (or overrides).
	Vars map[string]string
	// Command replaces the photobot binary and its "serve" argument.
	Command []string
	// Bucket and Port, when set, are those of an earlier serve (a restart
	// after a crash); by default each serve gets its own.
	Bucket string
	Port   int
}

// Serve is a running `photobot serve`.
type Serve struct {
	URL     string // http://127.0.0.1:port, also its PUBLIC_URL
	Port    int
	Bucket  string
	PID     int
	Started time.Time // just before the process was started
	Log     string    // its stderr

	cmd    *exec.Cmd
	exited chan struct{}
}

// StartServe starts `photobot serve` on a free port with a bucket of its
// own. It does not wait for the server to listen: see WaitReady.
func (e *Env) StartServe(c ServeConfig) (*Serve, error) {
	port, bucket := c.Port, c.Bucket
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if bucket == "" {
		bucket = e.NewBucket()
	}
	s := &Serve{URL: "http://127.0.0.1:" + strconv.Itoa(port), Port: port, Bucket: bucket, exited: make(chan struct{})}
	tg, rp, s3 := c.Telegram, c.Replicate, c.S3
	if tg == "" {
		tg = e.TG.URL
	}
	if rp == "" {
		rp = e.RP.URL
	}
	if s3 == "" {
		s3 = e.MinIO.Endpoint
	}
	vars := map[string]string{
		"TG_BOT_TOKEN":             botToken,
		"REPLICATE_API_TOKEN":      replicateToken,
		"REPLICATE_MODEL":          fake.DefaultModelOwner + "/" + fake.DefaultModelName,
		"REPLICATE_INPUT":          `{"scale": 2}`,
		"REPLICATE_WEBHOOK_SECRET": e.RP.WebhookSecret,
		"S3_BUCKET":                s.Bucket,
		"AWS_ACCESS_KEY_ID":        e.MinIO.AccessKey,
		"AWS_SECRET_ACCESS_KEY":    e.MinIO.SecretKey,
		"S3_ENDPOINT_URL":          s3,
		"S3_REGION":                e.MinIO.Region,
		"PUBLIC_URL":               s.URL,
		"TG_WEBHOOK_SECRET":        webhookSecret,
		"TELEGRAM_API_URL":         tg,
		"REPLICATE_API_URL":        rp,
		"PORT":                     strconv.Itoa(port),
		"LOG_LEVEL":                "info",
		// Read by the bench's build of photobot and by profiledServe only.
		"PHOTOBOT_FAKE_RESULT_ORIGINS": strings.Join(append([]string{e.RP.URL}, e.ResultOrigins...), ","),
	}
	for k, v := range c.Vars {
		vars[k] = v
	}
	// A clean environment: nothing of ours (GOGC, GOMEMLIMIT, proxies)
	// changes how the server runs.
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	logf, err := os.CreateTemp(e.Dir, "serve-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.Log = logf.Name()
	s.cmd = exec.Command(e.Bin, "serve")
	if len(c.Command) > 0 {
		s.cmd = exec.Command(c.Command[0], c.Command[1:]...)
	}
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = sysProcAttr()
	s.Started = time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.PID = s.cmd.Process.Pid
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	e.tb.Cleanup(func() { s.Stop() })
	return s, nil
}

// Setup runs `photobot setup` once with the configuration of s: the
// lifecycle rules and the checks, as an operator would.
func (e *Env) Setup(s *Serve) error {
	cmd := exec.Command(e.Bin, "setup")
	cmd.Env = s.cmd.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("photobot setup: %v\n%s", err, out)
	}
	return nil
}

// WaitReady waits until s accepts connections.
func (s *Serve) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("photobot serve exited: %v\n%s", s.cmd.ProcessState, s.Tail(20))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("photobot serve not listening after %v\n%s", timeout, s.Tail(20))
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// Stop ends the server as the platform does: SIGTERM (it drains), then
// SIGKILL after 10 s.
func (s *Serve) Stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Kill ends the server at once, as a crash, an out-of-memory kill or a
// function timeout would: nothing of its work in flight is finished.
func (s *Serve) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// CPU is the server's user+system CPU time so far.
func (s *Serve) CPU() (time.Duration, error) { return procCPU(s.PID) }

// PeakRSS is the server's VmHWM.
func (s *Serve) PeakRSS() (int64, error) { return peakRSS(s.PID) }

// Tail returns the last n lines of the server's log.
func (s *Serve) Tail(n int) string {
	data, _ := os.ReadFile(s.Log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Count counts the server's log lines holding substr.
func (s *Serve) Count(substr string) int {
	data, _ := os.ReadFile(s.Log)
	return bytes.Count(data, []byte(substr))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ---- photos and updates ----

// Photo is one photo message sent by a user in a private chat.
type Photo struct {
	UpdateID  int64
	ChatID    int64
	MessageID int
	Body      []byte // the update, as Telegram posts it
}

// photoKey names a photo in the results: its chat and message.
type photoKey struct {
	chat int64
	msg  int
}

func (p *Photo) key() photoKey { return photoKey{p.ChatID, p.MessageID} }

// NewPhoto registers a photo whose largest size is data with the fake
// Telegram and returns its update, shaped as testdata/telegram/update_photo.json.
func (e *Env) NewPhoto(chatID int64, data []byte) *Photo {
	e.mu.Lock()
	e.msgSeq[chatID]++
	p := &Photo{UpdateID: e.updateSeq.Add(1), ChatID: chatID, MessageID: e.msgSeq[chatID]}
	e.mu.Unlock()

	msg := cloneJSON(e.template["message"]).(map[string]any)
	msg["message_id"] = p.MessageID
	msg["date"] = time.Now().Unix()
	msg["from"].(map[string]any)["id"] = chatID
	msg["chat"].(map[string]any)["id"] = chatID
	delete(msg, "caption")
	sizes := msg["photo"].([]any) // ascending: the last is the largest
	for i, s := range sizes {
		ps := s.(map[string]any)
		c := e.medium
		switch i {
		case 0:
			c = e.small
		case len(sizes) - 1:
			c = data
		}
		id := fmt.Sprintf("AgACAgIAAxkBAAI%d_%d", p.UpdateID, i)
		e.TG.AddFile(id, c)
		ps["file_id"], ps["file_size"] = id, len(c)
	}
	body, err := json.Marshal(map[string]any{"update_id": p.UpdateID, "message": msg})
	if err != nil {
		panic(err)
	}
	p.Body = body
	return p
}

func cloneJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// NewChat returns the id of a user (and private chat) not used before.
func (e *Env) NewChat() int64 { return 100_000_000 + e.chatSeq.Add(1) }

// Ack is the Telegram webhook's answer to one delivery of an update.
type Ack struct {
	Status   int
	Took     time.Duration
	Accepted bool   // 200 with the "accepted" reply to the photo
	Text     string // the reply's text
	Err      error
}

// Post delivers p to the Telegram webhook of s as Telegram does.
func (e *Env) Post(ctx context.Context, s *Serve, p *Photo) Ack {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/webhook/telegram", bytes.NewReader(p.Body))
	if err != nil {
		return Ack{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", webhookSecret)
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return Ack{Err: err, Took: time.Since(start)}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	a := Ack{Status: resp.StatusCode, Took: time.Since(start), Err: err}
	var reply struct {
		Method          string `json:"method"`
		ChatID          int64  `json:"chat_id"`
		Text            string `json:"text"`
		ReplyParameters struct {
			MessageID int `json:"message_id"`
		} `json:"reply_parameters"`
	}
	if a.Status == http.StatusOK && json.Unmarshal(body, &reply) == nil {
		a.Text = reply.Text
		a.Accepted = reply.Method == "sendMessage" && reply.ChatID == p.ChatID && reply.ReplyParameters.MessageID == p.MessageID &&
			reply.Text == acceptedText
	}
	return a
}

// ---- results ----

// Results counts the results (sendPhoto calls) per photo, and returns when
// the last one arrived.
func (e *Env) Results() (map[photoKey]int, time.Time) {
	out := map[photoKey]int{}
	var last time.Time
	for _, c := range e.TG.Calls("sendPhoto") {
		if c.Status != http.StatusOK {
			continue
		}
		chat, _ := strconv.ParseInt(c.Params["chat_id"], 10, 64)
		var rp struct {
			MessageID int `json:"message_id"`
		}
		_ = json.Unmarshal([]byte(c.Params["reply_parameters"]), &rp)
		out[photoKey{chat, rp.MessageID}]++
		if c.At.After(last) {
			last = c.At
		}
	}
	return out, last
}

// WaitResults waits until every photo has at least one result.
func (e *Env) WaitResults(photos []*Photo, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, last := e.Results()
		missing := 0
		for _, p := range photos {
			if got[p.key()] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return last, nil
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%d of %d photos got no result within %v", missing, len(photos), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SendOne posts p and waits for its result; it fails unless p was accepted.
func (e *Env) SendOne(s *Serve, p *Photo, timeout time.Duration) (Ack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a := e.Post(ctx, s, p)
	if !a.Accepted {
		return a, fmt.Errorf("photo not accepted: %d %q %v\n%s", a.Status, a.Text, a.Err, s.Tail(10))
	}
	if _, err := e.WaitResults([]*Photo{p}, timeout); err != nil {
		return a, fmt.Errorf("%w\n%s", err, s.Tail(10))
	}
	return a, nil
}
