package longpoll_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testclock"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/longpoll"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/telegram"
)

// local is `photobot run` with only the two tokens and a model set.
func local(t *testing.T) (*longpoll.Runner, *fake.Telegram, *fake.Replicate, string) {
	t.Helper()
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	dir := t.TempDir()
	return runner(t, tg, rp, dir), tg, rp, dir
}

// runner is `photobot run` on dir, as cmd/photobot wires it.
func runner(t *testing.T, tg *fake.Telegram, rp *fake.Replicate, dir string) *longpoll.Runner {
	t.Helper()
	return runnerWith(t, tg, rp, dir, map[string]string{"REPLICATE_MODEL": "acme/photo-restore"})
}

// runnerWith is runner with the model's variables in vars.
func runnerWith(t *testing.T, tg *fake.Telegram, rp *fake.Replicate, dir string, vars map[string]string) *longpoll.Runner {
	t.Helper()
	for k, v := range map[string]string{
		"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken, "DATA_DIR": dir,
		"TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL,
	} {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, config.Run)
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New() // /stats counts per day
	b, err := app.NewWith(cfg, app.Logger(io.Discard, cfg.LogLevel), config.Run, func(o *pipeline.Options) { o.Now = clock.Now })
	if err != nil {
		t.Fatal(err)
	}
	b.TrustResultOriginsForTests(rp.URL) // the fake's outputs: http on loopback
	r := b.LongPoll()
	r.PollTimeout, r.Interval = time.Second, 20*time.Millisecond
	return r
}

func photoUpdate(tg *fake.Telegram, chatID int64, data []byte) map[string]any {
	tg.AddFile("AgACrun", data)
	return map[string]any{"message": map[string]any{
		"message_id": 3, "date": time.Now().Unix(),
		"from": map[string]any{"id": chatID, "language_code": "ru"}, "chat": map[string]any{"id": chatID, "type": "private"},
		"photo": []map[string]any{{"file_id": "AgACrun", "file_unique_id": "u", "width": 64, "height": 48, "file_size": len(data)}},
	}}
}

func TestRunEndToEndOnALocalDirectory(t *testing.T) {
	r, tg, rp, dir := local(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	photo := fake.JPEG(64, 48)
	tg.PushUpdate(photoUpdate(tg, 2001, photo))
	told := tg.WaitCalls(t, "sendMessage", 1, 10*time.Second)[0]
	if told.Params["text"] != "Фото получил, обрабатываю…" {
		t.Errorf("acceptance %q", told.Params["text"])
	}
	sent := tg.WaitCalls(t, "sendPhoto", 1, 10*time.Second)[0]
	if sent.Params["chat_id"] != "2001" {
		t.Errorf("result sent to %s", sent.Params["chat_id"])
	}
	pr := rp.Predictions()[0]
	if pr.Webhook != "" {
		t.Errorf("run asked for a webhook (%s): it has no public URL", pr.Webhook)
	}
	if in, _ := pr.Input["image"].(string); !strings.HasPrefix(in, "data:image/jpeg;base64,") {
		t.Errorf("image input %.40q, want a data URI for a small photo", in)
	}
	if string(rp.WaitTerminal(t, pr.ID, 5*time.Second).Fetched) != string(photo) {
		t.Errorf("the model did not get the photo")
	}
	// Same key layout as the bucket; the task is cleaned up after delivery,
	// the update and delivery claims stay (expired in a bucket by lifecycle).
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, taskErr := os.Stat(filepath.Join(dir, "tasks", pr.ID+".json"))
		_, claimErr := os.Stat(filepath.Join(dir, "deliveries", pr.ID+".json"))
		if errors.Is(taskErr, os.ErrNotExist) && claimErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %v, delivery claim %v", taskErr, claimErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := len(tg.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results", n)
	}
}

func TestRunRefusesWhileAWebhookIsSet(t *testing.T) {
	r, tg, _, _ := local(t)
	resp, err := http.Post(tg.URL+"/bot"+testenv.BotToken+"/setWebhook?url=https://example.com/hook", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("setWebhook: %v %v", resp, err)
	}
	resp.Body.Close()
	err = r.Run(context.Background())
	if !errors.Is(err, longpoll.ErrWebhookSet) || !strings.Contains(err.Error(), "photobot run --drop-webhook") {
		t.Errorf("Run = %v, want ErrWebhookSet saying how to remove it", err)
	}
}

// Stopped while it starts (Ctrl-C before Telegram answered the check of
// the webhook), run ends cleanly: no error for a stop.
func TestStopWhileStartingIsClean(t *testing.T) {
	r, tg, _, _ := local(t)
	tg.Delay("getWebhookInfo", time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil for a stop", err)
	}
}

// The menu in photobot run: the menu, a press from getUpdates, the result.
func TestRunWithAMenu(t *testing.T) {
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	rp.SetModel("acme", "rembg", "", "image")
	vars := map[string]string{
		"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken, "DATA_DIR": t.TempDir(),
		"TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL,
		"EFFECTS": `[{"id":"restore","title":"Restore","model":"acme/photo-restore"},{"id":"nobg","title":"No background","model":"acme/rembg","send":"document"}]`,
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, config.Run)
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New() // /stats counts per day
	b, err := app.NewWith(cfg, app.Logger(io.Discard, cfg.LogLevel), config.Run, func(o *pipeline.Options) { o.Now = clock.Now })
	if err != nil {
		t.Fatal(err)
	}
	b.TrustResultOriginsForTests(rp.URL) // the fake's outputs: http on loopback
	r := b.LongPoll()
	r.PollTimeout, r.Interval = time.Second, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	tg.PushUpdate(photoUpdate(tg, 2002, fake.JPEG(64, 48)))
	menu := tg.WaitCalls(t, "sendMessage", 1, 10*time.Second)[0]
	if menu.Params["text"] != "Что сделать с этим фото?" || !strings.Contains(menu.Params["reply_markup"], "e:nobg") {
		t.Fatalf("menu %v", menu.Params)
	}
	var msg struct {
		MessageID int `json:"message_id"`
	}
	json.Unmarshal(menu.Result, &msg)
	tg.PushUpdate(tg.Press(t, 2002, msg.MessageID, "e:nobg", fake.User{ID: 2002, LanguageCode: "ru"}))
	doc := tg.WaitCalls(t, "sendDocument", 1, 10*time.Second)[0]
	if !strings.HasPrefix(doc.Params["caption"], "No background") || len(doc.Files["document"]) == 0 {
		t.Errorf("result %v", doc.Params)
	}
	if p := tg.Presses(); len(p) != 1 || len(p[0].Answers) != 1 || p[0].Answers[0].Error != "" {
		t.Errorf("the press was not answered once: %+v", p)
	}
	tg.WaitCalls(t, "editMessageText", 2, 10*time.Second) // processing, then done
	if m, _ := tg.Message(2002, msg.MessageID); !strings.HasPrefix(m.Text, "✅ No background") {
		t.Errorf("status %q", m.Text)
	}
}

// A text result of 3,000 emoji is 6,000 UTF-16 code units, Telegram's
// measure: the user gets its start, cut between two emoji, not nothing.
func TestLongEmojiTextReachesTheUser(t *testing.T) {
	r, tg, rp, _ := local(t)
	rp.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return "", strings.Repeat("😀", 3000), ""
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	tg.PushUpdate(photoUpdate(tg, 2003, fake.JPEG(64, 48)))
	sent := tg.WaitCalls(t, "sendMessage", 2, 15*time.Second)
	text := sent[1].Params["text"]
	if sent[1].Error != "" || !strings.HasPrefix(text, "😀😀") || !strings.HasSuffix(text, "😀…") || !utf8.ValidString(text) {
		t.Fatalf("result: error %q, text %.40q…", sent[1].Error, text)
	}
	if n := len(utf16.Encode([]rune(text))); n > 4096 || n < 4000 {
		t.Errorf("the text is %d UTF-16 code units, want close to 4096 and no more", n)
	}
}

// polling is local with the proportions of production: the transport
// gives up on response headers (1 s here, 20 s there) before Telegram
// answers an idle long poll (2 s here, 30 s there).
func polling(t *testing.T) (*longpoll.Runner, *fake.Telegram, *testenv.Logs) {
	r, tg, _, _ := local(t)
	hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: time.Second}}
	c, err := telegram.New(tg.URL, testenv.BotToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	log := &testenv.Logs{}
	r.Telegram, r.Log, r.PollTimeout = c, app.Logger(log, slog.LevelInfo), 2*time.Second
	return r, tg, log
}

// An idle bot keeps listening: its polls end empty, not in errors and
// backoff, and a photo sent after several of them is seen at once.
func TestIdleBotSeesAPhotoWithinAPoll(t *testing.T) {
	r, tg, log := polling(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	tg.WaitCalls(t, "getUpdates", 4, 30*time.Second)
	sent := time.Now()
	tg.PushUpdate(photoUpdate(tg, 2004, fake.JPEG(64, 48)))
	told := tg.WaitCalls(t, "sendMessage", 1, 30*time.Second)[0]
	if took := told.At.Sub(sent); took > r.PollTimeout+time.Second {
		t.Errorf("the photo was seen after %v, want within a poll (%v)", took, r.PollTimeout)
	}
	if strings.Contains(log.String(), "getUpdates failed") {
		t.Errorf("idle polls failed:\n%s", log)
	}
}

// Flood control's retry_after is how long the runner waits.
func TestPollHonoursRetryAfter(t *testing.T) {
	r, tg, _ := polling(t)
	tg.FailNextRetryAfter("getUpdates", 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	calls := tg.WaitCalls(t, "getUpdates", 2, 30*time.Second)
	if calls[0].Status != http.StatusTooManyRequests {
		t.Fatalf("first poll answered %d", calls[0].Status)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < 2*time.Second {
		t.Errorf("polled again after %v, want the 2 s of retry_after", gap)
	}
}

// start runs r until the test ends or the returned stop is called; stop
// returns when Run has.
func start(t *testing.T, r *longpoll.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// A run stopped while the model works leaves its task; the next run on
// the same directory follows the prediction again, and the user gets the
// result, once.
func TestNextRunDeliversWhatAStoppedRunStarted(t *testing.T) {
	r, tg, rp, dir := local(t)
	rp.RunTime = 3 * time.Second
	r.Drain = 50 * time.Millisecond // stops before the model is done
	stop := start(t, r)
	tg.PushUpdate(photoUpdate(tg, 2005, fake.JPEG(64, 48)))
	tg.WaitCalls(t, "sendMessage", 1, 10*time.Second) // "processing"
	pr := rp.WaitPredictions(t, 1, 10*time.Second)[0]
	waitFor(t, "the task saved", func() bool { _, err := os.Stat(filepath.Join(dir, "tasks", pr.ID+".json")); return err == nil })
	stop()
	if n := len(tg.Calls("sendPhoto")); n != 0 {
		t.Fatalf("%d results before the model finished", n)
	}

	start(t, runner(t, tg, rp, dir))
	sent := tg.WaitCalls(t, "sendPhoto", 1, 20*time.Second)[0]
	if sent.Params["chat_id"] != "2005" || sent.Error != "" {
		t.Errorf("result to %s: %q", sent.Params["chat_id"], sent.Error)
	}
	waitFor(t, "the task cleaned up", func() bool {
		_, err := os.Stat(filepath.Join(dir, "tasks", pr.ID+".json"))
		return errors.Is(err, os.ErrNotExist)
	})
	rp.WaitIdle(t, 10*time.Second)
	if n := len(tg.Calls("sendPhoto")); n != 1 || len(rp.Predictions()) != 1 {
		t.Errorf("%d results of %d predictions, want 1 of 1", n, len(rp.Predictions()))
	}
}

// A stop (SIGTERM) lets a prediction that ends within Drain be delivered
// before Run returns.
func TestStopWaitsForThePredictionsInFlight(t *testing.T) {
	r, tg, rp, _ := local(t)
	rp.RunTime = time.Second
	stop := start(t, r)
	tg.PushUpdate(photoUpdate(tg, 2006, fake.JPEG(64, 48)))
	rp.WaitPredictions(t, 1, 10*time.Second)
	stop()
	if n := len(tg.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results when Run returned, want 1", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
