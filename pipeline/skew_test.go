package pipeline_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
)

// agedStore tells how old an object is by its own clock, as S3 does with
// an answer's Date and the object's Last-Modified, in whole seconds.
type agedStore struct {
	*inmem.Store
	mu      sync.Mutex
	written map[string]time.Time
}

func (s *agedStore) wrote(key string, err error) {
	if err == nil {
		s.mu.Lock()
		s.written[key] = time.Now()
		s.mu.Unlock()
	}
}

func (s *agedStore) Put(ctx context.Context, key string, body io.Reader, size int64, ctype string) error {
	err := s.Store.Put(ctx, key, body, size, ctype)
	s.wrote(key, err)
	return err
}

func (s *agedStore) Create(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := s.Store.Create(ctx, key, data)
	s.wrote(key, err)
	return etag, err
}

func (s *agedStore) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	etag, err := s.Store.Replace(ctx, key, data, etag)
	s.wrote(key, err)
	return etag, err
}

func (s *agedStore) GetAged(ctx context.Context, key string) ([]byte, string, time.Duration, error) {
	data, etag, err := s.Store.Get(ctx, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return data, etag, time.Since(s.written[key]).Truncate(time.Second), err
}

// gatedModels holds the first create call until the gate opens, and says
// when it waits.
type gatedModels struct {
	*inmem.Models
	waiting chan struct{}
	gate    chan struct{}
}

func (m *gatedModels) Create(ctx context.Context, r *pipeline.PredictionRequest) (string, error) {
	select {
	case m.waiting <- struct{}{}:
		<-m.gate
	default:
	}
	return m.Models.Create(ctx, r)
}

// Two instances whose clocks are 30 s apart (more than a claim's life)
// get the two taps of a double tap on an effect's button: the one whose
// clock is behind claims the button first. The other judges the claim by
// the bucket's clock, finds it fresh, and starts nothing: one prediction.
func TestDoubleTapOnInstancesWithSkewedClocks(t *testing.T) {
	c := menuCore(t)
	photo, menu := c.menu(7)
	store := &agedStore{Store: c.store, written: map[string]time.Time{}}
	models := &gatedModels{Models: c.models, waiting: make(chan struct{}), gate: make(chan struct{})}
	instance := func(skew time.Duration) *pipeline.Bot {
		o := c.opt
		o.Now = func() time.Time { return time.Now().Add(skew) }
		b, err := pipeline.New(pipeline.Deps{Store: store, Images: store, Chat: c.chat, Models: models}, o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	behind, right := instance(-30*time.Second), instance(0)
	tap := func(b *pipeline.Bot, n int64) (*pipeline.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), b.Deadline())
		defer cancel()
		return b.HandleUpdate(ctx, &pipeline.Update{ID: 90000 + n, Press: &pipeline.Press{ID: "tap" + string(rune('0'+n)),
			From: pipeline.User{ID: 7, Language: "en"}, ChatID: photo.ChatID, MessageID: menu, OnText: true,
			Data: "e:upscale", Photo: photo}})
	}
	first := make(chan error, 1)
	go func() {
		_, err := tap(behind, 1)
		first <- err
	}()
	<-models.waiting // the first tap holds the button's claim
	if r, err := tap(right, 2); err != nil || r != nil && r.PredictionID != "" {
		t.Errorf("second tap: %+v, %v; want nothing started", r, err)
	}
	if _, _, answers := c.chat.Record(); len(answers) == 0 || answers[len(answers)-1].Text != "Already on it" {
		t.Errorf("the second tap was answered %+v, want \"Already on it\"", answers)
	}
	close(models.gate)
	if err := <-first; err != nil {
		t.Fatalf("first tap: %v", err)
	}
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions for a double tap, want 1", len(created))
	}
}
