// Package retry repeats a call that failed transiently, a bounded number
// of times, with a doubling backoff that honours the server's Retry-After
// and the caller's deadline.
package retry

import (
	"context"
	"time"
)

// Policy bounds the retries of one call.
type Policy struct {
	// Attempts is how often the call is tried in all (default 3).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after.
	Backoff time.Duration
	// MaxRetryAfter caps a wait the server asks for; a longer one ends the
	// call with its error, for the caller's caller to retry later.
	MaxRetryAfter time.Duration
}

// Do runs call until it succeeds, fails in a way retryable does not
// accept, runs out of attempts, or ctx ends; it returns the last error.
// retryable says whether an error may be retried, and the least wait the
// server asked for (0 for none).
func (p Policy) Do(ctx context.Context, call func(context.Context) error, retryable func(error) (bool, time.Duration)) error {
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	wait := p.Backoff
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || attempt >= attempts || ctx.Err() != nil {
			return err
		}
		ok, after := retryable(err)
		if !ok || after > p.MaxRetryAfter {
			return err
		}
		wait = max(wait, after)
		if !Sleep(ctx, wait) {
			return err
		}
		wait *= 2
	}
}

// Sleep waits d, or until ctx is done: it reports whether the wait ended
// with ctx still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
