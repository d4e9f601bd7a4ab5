package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errTransient = errors.New("transient")

func always(error) (bool, time.Duration) { return true, 0 }

func TestBoundedAndStopsOnSuccess(t *testing.T) {
	p := Policy{Attempts: 3, Backoff: time.Millisecond}
	n := 0
	err := p.Do(context.Background(), func(context.Context) error { n++; return errTransient }, always)
	if !errors.Is(err, errTransient) || n != 3 {
		t.Errorf("%d calls, err %v; want 3 and the last error", n, err)
	}
	n = 0
	err = p.Do(context.Background(), func(context.Context) error {
		n++
		if n < 2 {
			return errTransient
		}
		return nil
	}, always)
	if err != nil || n != 2 {
		t.Errorf("%d calls, err %v; want success on the 2nd", n, err)
	}
}

func TestPermanentAndLongRetryAfterEndAtOnce(t *testing.T) {
	p := Policy{Attempts: 5, Backoff: time.Millisecond, MaxRetryAfter: time.Second}
	for name, classify := range map[string]func(error) (bool, time.Duration){
		"permanent":        func(error) (bool, time.Duration) { return false, 0 },
		"long retry-after": func(error) (bool, time.Duration) { return true, time.Minute },
	} {
		n := 0
		p.Do(context.Background(), func(context.Context) error { n++; return errTransient }, classify)
		if n != 1 {
			t.Errorf("%s: %d calls, want 1", name, n)
		}
	}
}

func TestHonoursTheDeadline(t *testing.T) {
	p := Policy{Attempts: 5, Backoff: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	p.Do(ctx, func(context.Context) error { return errTransient }, always)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned after %v, past a 20 ms deadline", d)
	}
}
