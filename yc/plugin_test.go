package yc_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-telegram/bot"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/testclock"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/telegram"
	"github.com/photobot/photobot/yc"
	"github.com/photobot/photobot/yc/pack"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// build runs a go command with the runtime's toolchain.
func build(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOTOOLCHAIN=" + pack.Toolchain, "CGO_ENABLED=1"}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// unzip writes the archive's files under dir, as the builder unpacks it.
func unzip(t *testing.T, data []byte, dir string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// host is a loaded function, called through the host program.
type host struct {
	url    string
	loadMS string
}

func (h host) invoke(t *testing.T, event []byte) yc.Response {
	t.Helper()
	r, err := h.call(event)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// call is one invocation, as the runtime makes it.
func (h host) call(event []byte) (yc.Response, error) {
	resp, err := http.Post(h.url+"/invoke", "application/json", bytes.NewReader(event))
	if err != nil {
		return yc.Response{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return yc.Response{}, fmt.Errorf("host: %d %s", resp.StatusCode, body)
	}
	var r yc.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return yc.Response{}, fmt.Errorf("function answered %s: %v", body, err)
	}
	return r, nil
}

// gateway plays API Gateway in front of the two functions: every request
// becomes an event (payload format 1.0, body base64-encoded) and the
// function's response becomes the HTTP answer.
func gateway(t *testing.T, routes map[string]host) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ev := yc.Request{HTTPMethod: r.Method, Path: r.URL.Path, Headers: map[string]string{}, MultiValueHeaders: r.Header,
			Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true}
		for k := range r.Header {
			ev.Headers[k] = r.Header.Get(k)
		}
		data, _ := json.Marshal(ev)
		resp, err := h.call(data)
		if err != nil {
			// As API Gateway answers when the function fails.
			t.Errorf("%s: %v", r.URL.Path, err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		out := []byte(resp.Body)
		if resp.IsBase64Encoded {
			out, _ = base64.StdEncoding.DecodeString(resp.Body)
		}
		w.Write(out)
	})
}

// stableDir is a work directory whose path is the same on every run, so
// that the go command's build cache (which keys packages by directory)
// serves a warm run; a lock keeps two runs out of each other's way.
func stableDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("photobot-yc-test-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	work := filepath.Join(dir, "work")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	return work
}

// TestPackagedFunctions builds both archives exactly as shipped, compiles
// them the way Yandex's builder does (Go 1.23.9, -buildmode=plugin, tag
// ycf, dependencies installed by the go command, and the module's own
// files at -lang=go1.16 as a go.mod without a go line gives), loads them
// in a host that calls Handler as the runtime does, and drives API Gateway
// events through them against MinIO and the fakes.
func TestPackagedFunctions(t *testing.T) {
	e := testenv.New(t, func(v map[string]string) { v["ADMIN_USERS"] = "2002009" })
	e.Clock = &testclock.Clock{} // the plugins run on real time: date the messages by it
	work := stableDir(t)
	hostDir := filepath.Join(work, "host")
	os.MkdirAll(hostDir, 0o755)
	src, err := os.ReadFile("testdata/host/main.go")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(hostDir, "main.go"), src, 0o644)
	os.WriteFile(filepath.Join(hostDir, "go.mod"), []byte("module host\n\ngo 1.23\n"), 0o644)
	build(t, hostDir, nil, "build", "-o", "host", ".")

	plugins := map[string]string{} // function → its plugin
	for _, fn := range pack.Functions {
		files, err := pack.Files("..", fn)
		if err != nil {
			t.Fatal(err)
		}
		data, err := pack.Zip(files)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 3500<<10 {
			t.Errorf("%s.zip is %d bytes, over the console's 3.5 MB", fn.Name, len(data))
		}
		again, _ := pack.Files("..", fn)
		if data2, _ := pack.Zip(again); !bytes.Equal(data, data2) {
			t.Errorf("%s.zip differs between two builds of the same sources", fn.Name)
		}
		for name, content := range files {
			if strings.HasSuffix(name, "_test.go") || strings.Contains(name, "testdata/") {
				t.Errorf("%s.zip ships %s", fn.Name, name)
			}
			if name == "go.mod" && (bytes.Contains(content, []byte("\ngo ")) || bytes.Contains(content, []byte("toolchain"))) {
				t.Errorf("%s.zip go.mod has a go or toolchain line:\n%s", fn.Name, content)
			}
		}
		dir := filepath.Join(work, fn.Name)
		unzip(t, data, dir)
		// The one change to what ships: the fake Replicate's outputs (http
		// on loopback) count as results, which the strict default refuses.
		os.WriteFile(filepath.Join(dir, "yc", "trust_test_results.go"), []byte(fmt.Sprintf(trustTestResults, e.RP.URL)), 0o644)
		build(t, dir, []string{"GOFLAGS=-mod=mod"}, "build", "-buildmode=plugin", "-tags", "ycf",
			"-gcflags=github.com/photobot/photobot/...=-lang=go1.16", "-o", "fn.so", ".")
		plugins[fn.Name] = filepath.Join(dir, "fn.so")
		t.Logf("%s: zip %d bytes", fn.Name, len(data))
	}
	testclock.SameDay(t, 2*time.Minute) // ownersView counts the photos of the test, all today
	// launch loads both functions in hosts with the environment vars, as a
	// function instance starts, and routes the gateway to them. As
	// Terraform deploys them, fn-callback gets no TG_WEBHOOK_SECRET: it
	// starts and delivers results without it.
	launch := func(vars map[string]string) map[string]host {
		hosts := map[string]host{}
		for fn, so := range plugins {
			env := []string{}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "TG_WEBHOOK_SECRET=") {
					env = append(env, kv)
				}
			}
			for k, v := range vars {
				if fn != "fn-callback" || k != "TG_WEBHOOK_SECRET" {
					env = append(env, k+"="+v)
				}
			}
			cmd := exec.Command(filepath.Join(hostDir, "host"), so)
			cmd.Env = env
			stdout, _ := cmd.StdoutPipe()
			stderr := &bytes.Buffer{}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
				if t.Failed() && stderr.Len() > 0 {
					t.Logf("%s host's stderr:\n%s", fn, stderr)
				}
			})
			line, err := bufio.NewReader(stdout).ReadString('\n')
			var addr, ms string
			if _, err2 := fmt.Sscanf(line, "ready %s %s", &addr, &ms); err != nil || err2 != nil {
				t.Fatalf("%s host: %q %v %v\n%s", fn, line, err, err2, cmd.Stderr)
			}
			go io.Copy(io.Discard, stdout)
			hosts[fn] = host{url: "http://" + addr, loadMS: ms}
			t.Logf("%s: plugin loaded in %s ms", fn, ms)
		}
		e.Handler(gateway(t, map[string]host{"/webhook/telegram": hosts["fn-handler"], "/webhook/replicate": hosts["fn-callback"]}))
		return hosts
	}
	hosts := launch(e.Vars)
	golden := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/events", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	e.TG.AddFile("AgACAgIAAxkBAAIFVWdCgoldenSmall", fake.JPEG(90, 60))
	large := fake.JPEG(800, 533)
	e.TG.AddFile("AgACAgIAAxkBAAIFVWdCgoldenLarge", large)

	// A forged Telegram update and a forged Replicate webhook get nothing.
	if r := hosts["fn-handler"].invoke(t, golden("telegram_forged_secret.json")); r.StatusCode != 401 {
		t.Errorf("forged update: %d %s", r.StatusCode, r.Body)
	}
	if r := hosts["fn-callback"].invoke(t, golden("replicate_forged_signature.json")); r.StatusCode != 401 {
		t.Errorf("forged webhook: %d %s", r.StatusCode, r.Body)
	}
	if n := len(e.TG.Calls("")) + len(e.RP.Predictions()); n != 0 {
		t.Errorf("forged events caused %d calls", n)
	}

	// The happy path: a base64-encoded update through fn-handler...
	start := time.Now()
	r := hosts["fn-handler"].invoke(t, golden("telegram_photo_base64.json"))
	t.Logf("first photo event handled in %v", time.Since(start))
	if r.StatusCode != 200 || !strings.Contains(r.Body, `"method":"sendMessage"`) || !strings.Contains(r.Body, "Фото получил") {
		t.Fatalf("fn-handler answered %d %s", r.StatusCode, r.Body)
	}
	pr := e.RP.WaitPredictions(t, 1, 10*time.Second)[0]
	if got := e.TG.Calls("getFile")[0].Params["file_id"]; got != "AgACAgIAAxkBAAIFVWdCgoldenLarge" {
		t.Errorf("getFile(%s)", got)
	}
	// ...and Replicate's webhook through the gateway to fn-callback.
	sent := e.TG.WaitCalls(t, "sendPhoto", 1, 20*time.Second)[0]
	if sent.Params["chat_id"] != "2002001" {
		t.Errorf("result sent to %s", sent.Params["chat_id"])
	}
	if !bytes.Equal(e.RP.WaitTerminal(t, pr.ID, time.Second).Fetched, large) {
		t.Errorf("the model did not read the photo")
	}
	e.Eventually("task deleted", 10*time.Second, func() bool { return e.Task(pr.ID) == nil })

	// The same update, plain and with lower-case headers, is a duplicate.
	if r := hosts["fn-handler"].invoke(t, golden("telegram_photo_plain_lowercase.json")); r.StatusCode != 200 || r.Body != "" {
		t.Errorf("duplicate update: %d %q", r.StatusCode, r.Body)
	}
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions", n)
	}

	// The menu of effects, through new instances of both functions: the
	// photo gets the menu, a press (a callback_query event) starts the
	// effect, its result comes back as a file.
	menuVars := maps.Clone(e.Vars)
	delete(menuVars, "REPLICATE_MODEL")
	delete(menuVars, "REPLICATE_INPUT")
	menuVars["EFFECTS"] = `[{"id":"restore","title":"Restore","model":"acme/photo-restore"},` +
		`{"id":"file","title":"As a file","model":"acme/photo-restore","send":"document"},` +
		`{"id":"restyle","title":"Restyle","model":"acme/photo-restore","prompt_field":"prompt","prompt":"required","progress":true}]`
	launch(menuVars)
	if _, err := e.Bot.Services().Telegram.GetMe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Bot.Services().Telegram.SetWebhook(context.Background(), &bot.SetWebhookParams{URL: e.URL + "/webhook/telegram",
		SecretToken: testenv.WebhookSecret, AllowedUpdates: telegram.AllowedUpdates}); err != nil {
		t.Fatal(err)
	}
	p := e.NewPhoto(2002002)
	if status, err := e.TG.DeliverUpdate(e.Update(p)); err != nil || status != 200 {
		t.Fatalf("photo: %d %v", status, err)
	}
	menu := e.TG.WaitCalls(t, "sendMessage", 1, 10*time.Second)
	var msg struct {
		MessageID int `json:"message_id"`
	}
	json.Unmarshal(menu[len(menu)-1].Result, &msg)
	press := e.TG.Press(t, p.ChatID, msg.MessageID, "e:file", fake.User{ID: p.ChatID, LanguageCode: "ru"})
	if status, err := e.TG.DeliverUpdate(press); err != nil || status != 200 {
		t.Fatalf("press: %d %v", status, err)
	}
	doc := e.TG.WaitCalls(t, "sendDocument", 1, 20*time.Second)[0]
	if doc.Params["chat_id"] != "2002002" || !bytes.Equal(doc.Files["document"], e.RP.OutputPNG) {
		t.Errorf("document to %s, %d bytes", doc.Params["chat_id"], len(doc.Files["document"]))
	}
	if m, _ := e.TG.Message(p.ChatID, msg.MessageID); !strings.HasPrefix(m.Text, "⏳ As a file") && !strings.HasPrefix(m.Text, "✅ As a file") {
		t.Errorf("status %q", m.Text)
	}
	if n := len(e.RP.Predictions()); n != 2 {
		t.Errorf("%d predictions", n)
	}
	// The webhook is answered (the function's work ends there).
	e.Eventually("the result's webhook answered", 10*time.Second, func() bool {
		for _, d := range e.RP.Deliveries() {
			if d.PredictionID == e.RP.Predictions()[1].ID && d.Status == http.StatusOK {
				return true
			}
		}
		return false
	})
	restyleThroughFunctions(t, e)
	launch(e.Vars) // one effect again: a photo starts it
	ownersView(t, e)
	paymentsThroughFunctions(t, e, func(vars map[string]string) { launch(vars) })
}

// restyleThroughFunctions: a photo captioned with an effect that needs a
// prompt asks (fn-handler posts the question), the reply starts it, the
// start event reaches fn-callback and the status says the model runs.
func restyleThroughFunctions(t *testing.T, e *testenv.Env) {
	t.Helper()
	p := e.NewPhoto(2002003)
	p.Caption, p.Language = "/restyle", "en"
	user := fake.User{ID: p.ChatID, LanguageCode: "en"}
	e.RP.QueueTime = 200 * time.Millisecond
	if status, err := e.TG.DeliverUpdate(e.Update(p)); err != nil || status != 200 {
		t.Fatalf("photo: %d %v", status, err)
	}
	var question int
	e.Eventually("the question", 10*time.Second, func() bool {
		for _, m := range e.TG.Messages(p.ChatID) {
			if _, ok := e.TG.ForceReplyOf(p.ChatID, m.ID); ok {
				question = m.ID
			}
		}
		return question != 0
	})
	if status, err := e.TG.DeliverUpdate(e.TG.Reply(t, p.ChatID, question, user, map[string]any{"text": "anime"})); err != nil || status != 200 {
		t.Fatalf("reply: %d %v", status, err)
	}
	pr := e.RP.WaitPredictions(t, 3, 10*time.Second)[2]
	if pr.Input["prompt"] != "anime" {
		t.Errorf("prompt %v", pr.Input["prompt"])
	}
	e.Eventually("the status went from processing to done", 20*time.Second, func() bool {
		for _, m := range e.TG.Messages(p.ChatID) {
			if len(m.History) == 3 && strings.HasPrefix(m.History[1].Text, "⚙️ Restyle: processing") &&
				strings.HasPrefix(m.History[2].Text, "✅ Restyle: done") {
				return true
			}
		}
		return false
	})
	e.Eventually("the restyle's webhooks answered", 10*time.Second, func() bool {
		for _, d := range e.RP.Deliveries() {
			if d.PredictionID == pr.ID && d.Event == "completed" && d.Status == http.StatusOK {
				return true
			}
		}
		return false
	})
	e.RP.WaitIdle(t, 10*time.Second)
}

func TestDecode(t *testing.T) {
	var ev yc.Request
	data, _ := os.ReadFile("testdata/events/telegram_photo_plain_lowercase.json")
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	r, err := yc.Decode(context.Background(), &ev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != testenv.WebhookSecret || !bytes.HasPrefix(body, []byte(`{"update_id":815310042`)) {
		t.Errorf("header %q body %.40s", r.Header.Get("X-Telegram-Bot-Api-Secret-Token"), body)
	}
	ev.IsBase64Encoded = true
	ev.Body = "not base64!"
	if _, err := yc.Decode(context.Background(), &ev); err == nil {
		t.Errorf("a broken base64 body was accepted")
	}
}

// trustTestResults is a file added to the functions' build by the test.
const trustTestResults = `package yc

import "github.com/photobot/photobot/app"

func init() { trustTestResults = func(b *app.Bot) { b.TrustResultOriginsForTests(%q) } }
`
