package pipeline_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
)

// A task's save that the client gave up on can still land in the bucket
// a moment later (the server had the whole body). These tests land it at
// the worst moments and count what the user gets: exactly one result.

// lateStore fails the saves of tasks, keeping what they would write, until
// the test lands them.
type lateStore struct {
	*inmem.Store
	mu      sync.Mutex
	pending map[string][]byte
	landed  bool
	onGet   func(key string) (hide bool) // called before a task is read
	onMark  func()                       // called before a delivery is marked done
}

func (s *lateStore) Put(ctx context.Context, key string, body io.Reader, size int64, ctype string) error {
	s.mu.Lock()
	mark := s.onMark
	s.mu.Unlock()
	if mark != nil && strings.HasPrefix(key, "deliveries/") {
		mark()
	}
	if !strings.HasPrefix(key, "tasks/") {
		return s.Store.Put(ctx, key, body, size, ctype)
	}
	s.mu.Lock()
	landed := s.landed
	s.mu.Unlock()
	if landed {
		return s.Store.Put(ctx, key, body, size, ctype)
	}
	data, _ := io.ReadAll(body)
	s.mu.Lock()
	s.pending[key] = data
	s.mu.Unlock()
	return context.DeadlineExceeded
}

func (s *lateStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	s.mu.Lock()
	hook := s.onGet
	s.mu.Unlock()
	if hook != nil && strings.HasPrefix(key, "tasks/") && hook(key) {
		return nil, "", pipeline.ErrNotFound
	}
	return s.Store.Get(ctx, key)
}

// land writes the saves that looked failed; later ones work.
func (s *lateStore) land(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.landed = true
	for key, data := range s.pending {
		if _, err := s.Store.Create(context.Background(), key, data); err != nil {
			t.Fatal(err)
		}
		delete(s.pending, key)
	}
}

// gatedChat holds results until the gate opens, and says when one waits.
type gatedChat struct {
	*inmem.Chat
	waiting chan struct{}
	gate    chan struct{}
}

func (c *gatedChat) SendResult(ctx context.Context, r *pipeline.Result) error {
	c.waiting <- struct{}{}
	<-c.gate
	return c.Chat.SendResult(ctx, r)
}

func lateCore(t *testing.T, chat pipeline.Chat, change ...func(*pipeline.Options)) (*core, *lateStore) {
	c := newCore(t, append(change, func(o *pipeline.Options) { o.SaveBudget = 300 * time.Millisecond })...)
	s := &lateStore{Store: c.store, pending: map[string][]byte{}}
	if chat == nil {
		chat = c.chat
	}
	c.rewire(s, chat)
	return c, s
}

func succeeded(id string) *pipeline.Outcome {
	return &pipeline.Outcome{ID: id, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/out.png"}}
}

// The save lands just after photobot looked for it, and a fast model's
// webhook finds it and sends the result while photobot is about to give
// the prediction up: the prediction is kept, and the update is not redone.
func TestSaveThatLandsWhileTheWebhookDelivers(t *testing.T) {
	chat := &gatedChat{Chat: inmem.NewChat(), waiting: make(chan struct{}), gate: make(chan struct{})}
	c, s := lateCore(t, chat)
	c.chat = chat.Chat
	u := c.photo(7, "en")
	delivered := make(chan error, 1)
	var first atomic.Bool
	s.onGet = func(key string) bool {
		if first.Swap(true) {
			return false
		}
		// The intake's first look, too early: it finds nothing, then the
		// save lands and the webhook takes the delivery and the task.
		s.land(t)
		id := strings.TrimSuffix(strings.TrimPrefix(key, "tasks/"), ".json")
		go func() { delivered <- c.deliver(succeeded(id)) }()
		<-chat.waiting
		return true
	}
	r, err := c.handle(u)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("the photo: %+v, %v; want it accepted (its task was saved)", r, err)
	}
	close(chat.gate)
	if err := <-delivered; err != nil {
		t.Fatalf("webhook: %v", err)
	}
	if r, err := c.handle(u); err != nil || r != nil {
		t.Errorf("redelivery: %+v, %v; want nothing", r, err)
	}
	created, canceled := c.models.Record()
	_, results, _ := c.chat.Record()
	if len(created) != 1 || len(canceled) != 0 || len(results) != 1 {
		t.Errorf("%d predictions, %d canceled, %d results; want 1, 0, 1", len(created), len(canceled), len(results))
	}
}

// The save lands after photobot gave the prediction up (and could not
// give back the update's claim, which says done): the update is redone
// all the same, the given-up prediction's webhook sends nothing and
// leaves the redo's slot alone, and the redo's result is the one.
func TestSaveThatLandsAfterThePredictionWasAbandoned(t *testing.T) {
	c, s := lateCore(t, nil, func(o *pipeline.Options) { o.MaxActive = 1 })
	c.store.FailNext("delete updates/", errors.New("inmem: 503 SlowDown"))
	u := c.photo(7, "en")
	if _, err := c.handle(u); err == nil {
		t.Fatal("no error: Telegram would not retry")
	}
	s.land(t)
	// The redelivery takes the claim over once it is stale.
	c.clock.Advance(8 * time.Second)
	r, err := c.handle(u)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v; want a new prediction", r, err)
	}
	created, canceled := c.models.Record()
	if len(created) != 2 || len(canceled) != 1 || canceled[0] == r.PredictionID {
		t.Fatalf("%d predictions, canceled %v", len(created), canceled)
	}
	if err := c.deliver(succeeded(canceled[0])); err != nil {
		t.Errorf("the abandoned prediction's webhook: %v", err)
	}
	// The redo still holds the user's only slot.
	if r, err := c.handle(c.photo(7, "en")); err != nil || r == nil || r.PredictionID != "" {
		t.Errorf("another photo while the redo runs: %+v, %v; want the limit's message", r, err)
	}
	if err := c.deliver(succeeded(r.PredictionID)); err != nil {
		t.Fatal(err)
	}
	if _, results, _ := c.chat.Record(); len(results) != 1 {
		t.Errorf("%d results for one photo", len(results))
	}
}

// The save lands just after photobot looked for it, and a fast model's
// webhook sends the result; its mark of the delivery done is slow (a
// loaded bucket), and photobot, about to give the prediction up, looks
// again meanwhile: the task is still there (it is deleted only after the
// mark), so the prediction is kept and the photo gets one result.
func TestSaveThatLandsWhileTheDeliveryIsMarked(t *testing.T) {
	c, s := lateCore(t, nil)
	u := c.photo(7, "en")
	marking, marked := make(chan struct{}), make(chan struct{})
	s.onMark = func() {
		close(marking)
		<-marked
	}
	delivered := make(chan error, 1)
	var first atomic.Bool
	s.onGet = func(key string) bool {
		if first.Swap(true) {
			return false
		}
		s.land(t)
		id := strings.TrimSuffix(strings.TrimPrefix(key, "tasks/"), ".json")
		go func() { delivered <- c.deliver(succeeded(id)) }()
		<-marking // the result is sent; its mark is under way
		return true
	}
	r, err := c.handle(u)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("the photo: %+v, %v; want it accepted (its task was saved)", r, err)
	}
	close(marked)
	if err := <-delivered; err != nil {
		t.Fatalf("webhook: %v", err)
	}
	if r, err := c.handle(u); err != nil || r != nil {
		t.Errorf("redelivery: %+v, %v; want nothing", r, err)
	}
	created, canceled := c.models.Record()
	_, results, _ := c.chat.Record()
	if len(created) != 1 || len(canceled) != 0 || len(results) != 1 {
		t.Errorf("%d predictions, %d canceled, %d results; want 1, 0, 1", len(created), len(canceled), len(results))
	}
}
