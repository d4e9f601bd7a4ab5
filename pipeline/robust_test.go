package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
)

// contendedStore loses every compare-and-swap on the users' counters
// while contend is set, as if other requests always wrote first.
type contendedStore struct {
	*inmem.Store
	contend atomic.Bool
	writes  atomic.Int32
}

func (s *contendedStore) Create(ctx context.Context, key string, data []byte) (string, error) {
	if s.contend.Load() && strings.HasPrefix(key, "users/") {
		s.writes.Add(1)
		return "", pipeline.ErrExists
	}
	return s.Store.Create(ctx, key, data)
}

func (s *contendedStore) Replace(ctx context.Context, key string, data []byte, tag string) (string, error) {
	if s.contend.Load() && strings.HasPrefix(key, "users/") {
		s.writes.Add(1)
		return "", pipeline.ErrConflict
	}
	return s.Store.Replace(ctx, key, data, tag)
}

// A counter that cannot be updated is "busy, press again", not "already
// on it": nothing started, and the same button works once it can be.
func TestContendedCounterIsBusyAndFreesTheButton(t *testing.T) {
	c := menuCore(t, func(o *pipeline.Options) { o.MaxActive = 2 })
	s := &contendedStore{Store: c.store}
	s.contend.Store(true)
	c.rewire(s, c.chat)
	photo, menu := c.menu(7)
	if r, err := c.press(photo, menu, true, "e:upscale", 7); err != nil || r != nil {
		t.Fatalf("contended press: %+v, %v; want only an answer", r, err)
	}
	_, _, answers := c.chat.Record()
	if len(answers) != 1 || answers[0].Text != "The service is busy right now. Please press again a bit later." {
		t.Errorf("answers %+v, want 'busy'", answers)
	}
	if s.writes.Load() < 2 {
		t.Errorf("%d compare-and-swap attempts, want retries", s.writes.Load())
	}
	if created, _ := c.models.Record(); len(created) != 0 {
		t.Errorf("%d predictions while the counter could not be updated", len(created))
	}
	s.contend.Store(false)
	if r, err := c.press(photo, menu, true, "e:upscale", 7); err != nil || r == nil || r.PredictionID == "" {
		t.Errorf("the same button once the counter is free: %+v, %v", r, err)
	}
}

// slowChat never manages to send a result: each transfer outlasts the
// webhook's deadline.
type slowChat struct {
	*inmem.Chat
	tries atomic.Int32
}

func (c *slowChat) SendResult(ctx context.Context, r *pipeline.Result) error {
	c.tries.Add(1)
	return fmt.Errorf("telegram sendPhoto: %w", context.DeadlineExceeded)
}

// A result that never gets through in time is retried by Replicate; on
// the third try the user is told plainly, once, and their slot is free.
func TestResultTooSlowToSendIsToldOnTheThirdTry(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.MaxActive = 1 })
	chat := &slowChat{Chat: c.chat}
	c.rewire(c.store, chat)
	u := c.photo(7, "en")
	r, err := c.handle(u)
	if err != nil || r.PredictionID == "" {
		t.Fatalf("photo: %+v, %v", r, err)
	}
	o := succeeded(r.PredictionID)
	for try := 1; try <= 2; try++ {
		if err := c.deliver(o); err == nil {
			t.Fatalf("webhook %d answered success with nothing sent", try)
		}
	}
	if err := c.deliver(o); err != nil {
		t.Fatalf("third webhook: %v; want the user told and success", err)
	}
	if err := c.deliver(o); err != nil {
		t.Fatalf("a fourth webhook: %v", err)
	}
	if n := chat.tries.Load(); n != 3 {
		t.Errorf("%d transfers tried, want 3", n)
	}
	sent, _, _ := c.chat.Record()
	told := 0
	for _, m := range sent {
		if m.Text == "The result is ready, but it was too big to send in time. Please send the photo again." {
			told++
			if m.ChatID != 7 || m.ReplyTo != u.Message.ID {
				t.Errorf("told in %+v", m)
			}
		}
	}
	if told != 1 {
		t.Errorf("told %d times, want once: %+v", told, sent)
	}
	if c.task(r.PredictionID) != nil || len(c.store.Keys("images/")) != 0 {
		t.Errorf("task or photo left: %v", c.store.Keys(""))
	}
	if r, err := c.handle(c.photo(7, "en")); err != nil || r.PredictionID == "" {
		t.Errorf("next photo: %+v, %v; want the slot free", r, err)
	}
}

// slowModels answers a create call after answerIn, as a loaded Replicate
// (or network) can; a caller that gives up first gets its context's error,
// and the prediction runs all the same.
type slowModels struct {
	*inmem.Models
	answerIn time.Duration
}

func (m *slowModels) Create(ctx context.Context, r *pipeline.PredictionRequest) (string, error) {
	id, err := m.Models.Create(ctx, r)
	select {
	case <-time.After(m.answerIn):
		return id, err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// A create call slower than the other calls' timeout is waited for while
// the request's deadline allows: given up, its prediction would run unseen
// and the redelivery would pay for a second one.
func TestSlowCreateIsWaitedFor(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Deadline = 10 * time.Second })
	models := &slowModels{Models: c.models, answerIn: 2 * c.opt.CallTimeout}
	b, err := pipeline.New(pipeline.Deps{Store: c.store, Images: c.store, Chat: c.chat, Models: models}, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.Deadline())
	defer cancel()
	r, err := b.HandleUpdate(ctx, c.photo(7, "en"))
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("the photo: %+v, %v; want it accepted", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions, want 1", len(created))
	}
}
