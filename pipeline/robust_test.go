package pipeline_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

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
	if r, err := c.press(photo, menu, true, "e:upscale", 7); err != nil || r == nil || r.Started == "" {
		t.Errorf("the same button once the counter is free: %+v, %v", r, err)
	}
}
