package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/internal/testclock"
	"github.com/photobot/photobot/pipeline"
)

// Unit tests of the core against the in-memory ports: what happens to a
// photo and to its result, in milliseconds. internal/... and e2e prove the
// real parts.

// jpeg is enough of a JPEG for the core's sniffing.
var jpeg = append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, make([]byte, 600)...)

type core struct {
	t      *testing.T
	bot    *pipeline.Bot
	store  *inmem.Store
	chat   *inmem.Chat
	models *inmem.Models
	pay    *inmem.Payments // nil: payments off
	clock  *testclock.Clock
	seq    atomic.Int64
	opt    pipeline.Options
}

var restore = pipeline.Effect{ID: "restore", Title: pipeline.Text{"en": "Restore", "ru": "Реставрация"},
	Model: "acme/photo-restore", Input: map[string]any{"scale": 2}, ImageField: "image", PromptField: "prompt"}

func newCore(t *testing.T, change ...func(*pipeline.Options)) *core {
	t.Helper()
	c := &core{t: t, store: inmem.NewStore(), chat: inmem.NewChat(), models: &inmem.Models{}, clock: testclock.New()}
	o := pipeline.Options{Effects: []pipeline.Effect{restore}, WebhookURL: "https://bot.example/webhook/replicate",
		Now: c.clock.Now, CallTimeout: time.Second, Deadline: 5 * time.Second}
	for _, f := range change {
		f(&o)
	}
	c.opt = o
	c.rewire(c.store, c.chat)
	return c
}

// rewire makes the bot use store and chat (wrappers of the core's own).
func (c *core) rewire(store interface {
	pipeline.Store
	pipeline.ImageStore
}, chat pipeline.Chat) {
	d := pipeline.Deps{Store: store, Images: store, Chat: chat, Models: c.models}
	if c.pay != nil {
		d.Payments = c.pay
	}
	var err error
	c.bot, err = pipeline.New(d, c.opt)
	if err != nil {
		c.t.Fatal(err)
	}
}

// photo is an update with a photo from user in its private chat.
func (c *core) photo(user int64, lang string) *pipeline.Update {
	n := c.seq.Add(1)
	id := fmt.Sprintf("AgAC%d", n)
	c.chat.AddFile(id, jpeg)
	return &pipeline.Update{ID: 1000 + n, Message: &pipeline.Message{ID: int(n), ChatID: user, Private: true,
		From: &pipeline.User{ID: user, Language: lang}, Date: c.clock.Now(), File: &pipeline.File{ID: id, Size: int64(len(jpeg)), Image: true}}}
}

func (c *core) handle(u *pipeline.Update) (*pipeline.Response, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.bot.Deadline())
	defer cancel()
	return c.bot.HandleUpdate(ctx, u)
}

func (c *core) deliver(o *pipeline.Outcome) error {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.bot.Deadline())
	defer cancel()
	return c.bot.HandlePrediction(ctx, o)
}

func (c *core) task(id string) *pipeline.Task {
	data := c.store.Object("tasks/" + id + ".json")
	if data == nil {
		return nil
	}
	var t pipeline.Task
	if err := json.Unmarshal(data, &t); err != nil {
		c.t.Fatal(err)
	}
	return &t
}

func TestPhotoBecomesAPredictionAndATask(t *testing.T) {
	c := newCore(t)
	u := c.photo(7, "en")
	u.Message.Caption = "  brighter  "
	r, err := c.handle(u)
	if err != nil || r == nil || r.Reply == nil || r.PredictionID == "" {
		t.Fatalf("HandleUpdate = %+v, %v", r, err)
	}
	if r.Reply.ChatID != 7 || r.Reply.ReplyTo != u.Message.ID || !strings.Contains(r.Reply.Text, "processing") {
		t.Errorf("reply %+v", r.Reply)
	}
	created, _ := c.models.Record()
	if len(created) != 1 {
		t.Fatalf("%d predictions", len(created))
	}
	p := created[0]
	image, _ := p.Input["image"].(string)
	if p.Model != "acme/photo-restore" || p.Input["scale"] != 2 || p.Input["prompt"] != "brighter" ||
		!strings.HasPrefix(image, "https://bucket.example/images/input/") || p.Webhook != "https://bot.example/webhook/replicate" ||
		p.Deadline != pipeline.DefaultPredictionDeadline {
		t.Errorf("prediction %+v", p)
	}
	task := c.task(r.PredictionID)
	if task == nil || task.ChatID != 7 || task.FileID != u.Message.File.ID || task.MessageID != u.Message.ID ||
		task.UserID != 7 || task.Effect != "restore" || !strings.HasPrefix(task.Image, "images/input/") {
		t.Errorf("task %+v", task)
	}
	if restore.Input["image"] != nil {
		t.Errorf("the effect's own input was changed: %v", restore.Input)
	}
}

func TestRedeliveredUpdateMakesNoSecondPrediction(t *testing.T) {
	c := newCore(t)
	u := c.photo(7, "en")
	if _, err := c.handle(u); err != nil {
		t.Fatal(err)
	}
	r, err := c.handle(u)
	if err != nil || r != nil {
		t.Errorf("redelivery: %+v, %v; want nothing", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions", len(created))
	}
	if imgs := c.store.Keys("images/"); len(imgs) != 1 {
		t.Errorf("photos kept: %v (the redelivery's copy must go)", imgs)
	}
}

func TestTransientFailureReleasesTheClaim(t *testing.T) {
	c := newCore(t)
	c.models.FailNext("create", errors.New("replicate create prediction: 500 Internal Server Error"))
	u := c.photo(7, "en")
	if r, err := c.handle(u); err == nil {
		t.Fatalf("first delivery: %+v, want a transient error (Telegram retries)", r)
	}
	if r, err := c.handle(u); err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("retry: %+v, %v", r, err)
	}
}

func TestPermanentFailuresAreMessages(t *testing.T) {
	rejected := fmt.Errorf("replicate: 422: %w", pipeline.ErrRejected)
	for name, tc := range map[string]struct {
		inject func(c *core)
		want   string
	}{
		"rejected by the model": {func(c *core) { c.models.FailNext("create", rejected) }, "couldn't read this photo"},
		"token refused":         {func(c *core) { c.models.FailNext("create", pipeline.ErrConfig) }, "its owner is already on it"},
		"file too big":          {func(c *core) { c.chat.FailNext("open", pipeline.ErrTooBig) }, "too big"},
		"file gone":             {func(c *core) { c.chat.FailNext("open", pipeline.ErrFileGone) }, "send it again"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCore(t)
			tc.inject(c)
			u := c.photo(7, "en")
			r, err := c.handle(u)
			if err != nil || r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, tc.want) {
				t.Fatalf("got %+v, %v; want a message with %q", r, err, tc.want)
			}
			// Done for good: a redelivery does nothing.
			if r, err := c.handle(u); err != nil || r != nil {
				t.Errorf("redelivery: %+v, %v", r, err)
			}
			if imgs := c.store.Keys("images/"); len(imgs) != 0 {
				t.Errorf("photos left: %v", imgs)
			}
		})
	}
}

func TestOldMessageGivesUp(t *testing.T) {
	c := newCore(t)
	c.models.FailAlways("create", errors.New("503"))
	u := c.photo(7, "ru")
	u.Message.Date = c.clock.Now().Add(-pipeline.GiveUpAfter - time.Minute)
	r, err := c.handle(u)
	if err != nil || r == nil || !strings.Contains(r.Reply.Text, "перегружен") {
		t.Errorf("got %+v, %v; want 'busy' so that the chat's queue moves on", r, err)
	}
}

func TestLimitsUnderConcurrency(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.MaxActive = 5; o.DailyLimit = 100 })
	var wg sync.WaitGroup
	var refused atomic.Int32
	for range 20 {
		wg.Add(1)
		go func(u *pipeline.Update) {
			defer wg.Done()
			r, err := c.handle(u)
			if err != nil {
				t.Error(err)
			} else if r.PredictionID == "" {
				refused.Add(1)
			}
		}(c.photo(9, "en"))
	}
	wg.Wait()
	if created, _ := c.models.Record(); len(created) != 5 || refused.Load() != 15 {
		t.Errorf("%d predictions, %d refused; want 5 and 15", len(created), refused.Load())
	}
}

func TestResultIsSentOnceAndTheBucketCleaned(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.MaxActive = 1 })
	u := c.photo(7, "en")
	r, _ := c.handle(u)
	o := &pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/out.png"}, Took: 3200 * time.Millisecond}
	for range 3 {
		if err := c.deliver(o); err != nil {
			t.Fatal(err)
		}
	}
	_, results, _ := c.chat.Record()
	if len(results) != 1 {
		t.Fatalf("%d results for one prediction", len(results))
	}
	res := results[0]
	if res.ChatID != 7 || res.ReplyTo != u.Message.ID || res.As != pipeline.AsPhoto || res.Caption != "Restore · 3.2 s" ||
		res.Name != "restore" || len(res.Files) != 1 {
		t.Errorf("result %+v", res)
	}
	if c.task(r.PredictionID) != nil || len(c.store.Keys("images/")) != 0 {
		t.Errorf("task or photo left: %v", c.store.Keys(""))
	}
	// The slot is free again.
	if r, err := c.handle(c.photo(7, "en")); err != nil || r.PredictionID == "" {
		t.Errorf("next photo after the result: %+v, %v", r, err)
	}
}

func TestWebhookBeforeTheTaskIsRetried(t *testing.T) {
	c := newCore(t)
	o := &pipeline.Outcome{ID: "zzzzzzzzzzzzzzzzzzzzzzzzzz", Status: pipeline.Succeeded}
	if err := c.deliver(o); !errors.Is(err, pipeline.ErrUnknownPrediction) {
		t.Errorf("got %v, want ErrUnknownPrediction (Replicate retries)", err)
	}
	if keys := c.store.Keys("deliveries/"); len(keys) != 0 {
		t.Errorf("claim left behind: %v", keys)
	}
	if err := c.deliver(&pipeline.Outcome{ID: "../tasks/x", Status: pipeline.Succeeded}); !errors.Is(err, pipeline.ErrInvalidPrediction) {
		t.Errorf("invalid id: %v", err)
	}
}

// A task that cannot be saved: the prediction is canceled (marked first),
// the update retried, and the canceled prediction's webhook answered 200.
func TestUnsavedTaskCancelsThePrediction(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.SaveBudget = 300 * time.Millisecond })
	c.store.FailAlways("put tasks/", errors.New("503 SlowDown"))
	u := c.photo(7, "en")
	start := time.Now()
	if _, err := c.handle(u); err == nil {
		t.Fatal("no error: Telegram would not retry")
	}
	created, canceled := c.models.Record()
	if len(created) != 1 || len(canceled) != 1 || canceled[0] != "pred0000000000000000000001" {
		t.Fatalf("created %d, canceled %v", len(created), canceled)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the cancel came %v after the create; the save's budget is 300 ms", took)
	}
	if err := c.deliver(&pipeline.Outcome{ID: canceled[0], Status: pipeline.Canceled}); err != nil {
		t.Errorf("webhook of the canceled prediction: %v, want nil (200)", err)
	}
	c.store.FailAlways("put tasks/", nil)
	if r, err := c.handle(u); err != nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 2 {
		t.Errorf("%d predictions", len(created))
	}
}

// A request that crashed holding the update's claim: a redelivery waits
// for the claim to go stale (the deadline plus a margin) and redoes it.
func TestCrashedClaimIsTakenOverSoon(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Deadline = 10 * time.Second })
	u := c.photo(7, "en")
	// The crashed request: its claim, 4 s old; stale at 10 s + 2 s.
	rec, _ := json.Marshal(map[string]any{"state": "working", "at": c.clock.Now().Add(-4 * time.Second).UnixMilli()})
	if _, err := c.store.Create(context.Background(), fmt.Sprintf("updates/%d.json", u.ID), rec); err != nil {
		t.Fatal(err)
	}
	// Too fresh to wait for within one request: ask for a retry.
	ctx, cancel := context.WithTimeout(context.Background(), c.bot.Deadline())
	r, err := c.bot.HandleUpdate(ctx, u)
	cancel()
	if !errors.Is(err, pipeline.ErrInProgress) {
		t.Fatalf("fresh claim: %+v, %v; want ErrInProgress", r, err)
	}
	// 7 s later the claim is 11 s old: it goes stale within this
	// request, which leaves it time enough for the work.
	c.clock.Advance(7 * time.Second)
	start := time.Now()
	r, err = c.handle(u)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v", r, err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond || waited > 3*time.Second {
		t.Errorf("took over after %v, want about 1 s (when the claim went stale)", waited)
	}
}

func TestStrangersAndText(t *testing.T) {
	allowed, _ := pipeline.ParseUsers("5,@friend")
	c := newCore(t, func(o *pipeline.Options) { o.Allowed = allowed })
	u := c.photo(8, "en")
	r, err := c.handle(u)
	if err != nil || r == nil || r.Reply == nil || r.PredictionID != "" {
		t.Fatalf("stranger's photo: %+v, %v", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 0 {
		t.Errorf("a stranger's photo made a prediction")
	}
	friend := c.photo(9, "en")
	friend.Message.From.Username = "Friend"
	if r, _ := c.handle(friend); r == nil || r.PredictionID == "" {
		t.Errorf("@friend was refused: %+v", r)
	}
	text := &pipeline.Update{ID: 1, Message: &pipeline.Message{ID: 1, ChatID: 5, Private: true, From: &pipeline.User{ID: 5}, Text: "hi"}}
	if r, _ := c.handle(text); r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "Restore") {
		t.Errorf("text got %+v, want the help naming the effect", r)
	}
	group := &pipeline.Update{ID: 2, Message: &pipeline.Message{ID: 2, ChatID: -100, From: &pipeline.User{ID: 5}, Text: "hi all"}}
	if r, _ := c.handle(group); r != nil {
		t.Errorf("chatter in a group got %+v", r)
	}
}
