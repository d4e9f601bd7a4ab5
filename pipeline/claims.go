package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/photobot/photobot/internal/retry"
)

// A lease is a claim on a piece of work (one update, one button press, one
// delivery), held in the bucket. It is created with If-None-Match, so only
// one request wins; once stale it can be taken over with If-Match, so a
// request that crashed while holding it blocks the work only briefly.
//
// A lease goes stale leaseMargin after its holder's deadline: by then the
// holder can no longer act (every call it makes runs under that deadline),
// so taking over cannot make the work happen twice. Its age is told by the
// store's clock where the store can (AgedStore): the holder's clock and
// the reader's may disagree by more than the margin.
type lease struct {
	key  string
	etag string
	// attempts is how many earlier holders failed at the work: released
	// it after a transient failure, or let it go stale.
	attempts int
}

// leaseRecord is the object at a lease's key.
type leaseRecord struct {
	State        string `json:"state"` // stateWorking, stateRetry, stateDone, stateCanceled or stateAbandoned
	At           int64  `json:"at"`    // when written, unix milliseconds
	PredictionID string `json:"prediction_id,omitempty"`
	// Attempts counts the holders that failed before, carried from one
	// holder to the next, so that work that fails every time can be given
	// up (a result too slow to send) instead of retried forever.
	Attempts int `json:"attempts,omitempty"`
}

const (
	stateWorking = "working"
	// stateRetry marks work given back after a transient failure: free
	// to take at once, with its count of attempts.
	stateRetry = "retry"
	stateDone  = "done"
	// stateCanceled marks a delivery the user canceled, stateAbandoned one
	// whose task could not be saved (photobot canceled the prediction and
	// the update is redone): either way its webhook is expected and
	// nothing is sent.
	stateCanceled  = "canceled"
	stateAbandoned = "abandoned"
)

// leaseMargin is how long after its holder's deadline a lease goes stale.
const leaseMargin = 2 * time.Second

// workBudget is the least time a request needs after taking over a lease;
// it waits for a lease to go stale only when that leaves it this much.
const workBudget = 8 * time.Second

var (
	errDone     = errors.New("already done")
	errCanceled = errors.New("canceled by photobot")
)

// leaseTTL is how long a lease stays fresh.
func (b *Bot) leaseTTL() time.Duration { return b.opt.Deadline + leaseMargin }

// acquire takes the lease at key. It returns errDone (or errCanceled) when
// the work was finished, ErrInProgress when someone holds a fresh lease.
// A lease that goes stale soon enough for this request to still do the
// work is waited for: a redelivery after a crash then redoes the work as
// soon as it may, instead of Telegram's next retry minutes later.
// done, when not nil, double-checks a record that says "done": it reports
// false when the work it names did not stick, and such a record is then
// treated like a lease (taken over once stale).
func (b *Bot) acquire(ctx context.Context, key string, done func(context.Context, leaseRecord) bool) (*lease, error) {
	rec, _ := json.Marshal(leaseRecord{State: stateWorking, At: b.now().UnixMilli()})
	for attempt := 0; attempt < 3; attempt++ {
		cctx, cancel := b.call(ctx)
		etag, err := b.store.Create(cctx, key, rec)
		cancel()
		if err == nil {
			return &lease{key: key, etag: etag}, nil
		}
		if !errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("claiming %s: %w", key, err)
		}
		cctx, cancel = b.call(ctx)
		data, etag, age, err := b.getAged(cctx, key)
		cancel()
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return nil, fmt.Errorf("reading claim %s: %w", key, err)
		}
		var cur leaseRecord
		if json.Unmarshal(data, &cur) != nil {
			cur = leaseRecord{State: stateWorking} // unreadable: treat as stale
		}
		switch {
		case cur.State == stateCanceled || cur.State == stateAbandoned:
			return nil, errCanceled
		case cur.State == stateDone && (done == nil || done(ctx, cur)):
			return nil, errDone
		}
		attempts := cur.Attempts + 1 // a stale holder failed too
		if cur.State == stateRetry {
			attempts = cur.Attempts
		} else if staleIn := b.staleIn(cur, age); staleIn > 0 {
			if !b.mayWait(ctx, staleIn) {
				return nil, ErrInProgress
			}
			b.log.Info("waiting for a claim held by a request that may have crashed", "key", key, "wait", staleIn.Round(time.Millisecond).String())
			if !sleep(ctx, staleIn) {
				return nil, ErrInProgress
			}
		}
		rec, _ = json.Marshal(leaseRecord{State: stateWorking, At: b.now().UnixMilli(), Attempts: attempts})
		cctx, cancel = b.call(ctx)
		etag, err = b.store.Replace(cctx, key, rec, etag)
		cancel()
		if errors.Is(err, ErrConflict) {
			return nil, ErrInProgress
		}
		if err != nil {
			return nil, fmt.Errorf("taking over claim %s: %w", key, err)
		}
		if cur.State != stateRetry {
			b.log.Warn("took over a stale claim", "key", key)
		}
		return &lease{key: key, etag: etag, attempts: attempts}, nil
	}
	return nil, ErrInProgress
}

// storeClockStep is how far an age told by the store can be from the
// truth: HTTP dates are in whole seconds.
const storeClockStep = time.Second

// getAged reads a lease, with its age by the store's clock when the store
// tells it (age < 0 when it does not).
func (b *Bot) getAged(ctx context.Context, key string) (data []byte, etag string, age time.Duration, err error) {
	if s, ok := b.store.(AgedStore); ok {
		return s.GetAged(ctx, key)
	}
	data, etag, err = b.store.Get(ctx, key)
	return data, etag, -1, err
}

// staleIn is how long until a lease goes stale: by the store's clock when
// its age is known (a second later than it says, to be sure), else by its
// writer's clock against this one.
func (b *Bot) staleIn(cur leaseRecord, age time.Duration) time.Duration {
	if age >= 0 {
		return b.leaseTTL() - age + storeClockStep
	}
	return time.UnixMilli(cur.At).Add(b.leaseTTL()).Sub(b.now())
}

// mayWait reports whether waiting d leaves the request workBudget before
// its deadline.
func (b *Bot) mayWait(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline)-d >= workBudget
}

// finish marks the leased work done (or canceled), for good.
func (b *Bot) finish(ctx context.Context, key, state, predictionID string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	rec, _ := json.Marshal(leaseRecord{State: state, At: b.now().UnixMilli(), PredictionID: predictionID})
	if err := b.store.Put(ctx, key, bytes.NewReader(rec), int64(len(rec)), "application/json"); err != nil {
		return fmt.Errorf("marking %s %s: %w", key, state, err)
	}
	return nil
}

// release gives the lease up so that a retry can take the work at once.
func (b *Bot) release(ctx context.Context, l *lease) {
	if l == nil {
		return
	}
	if err := b.store.Delete(ctx, l.key); err != nil {
		b.log.Warn("could not release claim; a retry will take it over when stale", "key", l.key, "err", err)
	}
}

// retryLater gives the lease back after a transient failure, counting it:
// the next request takes the work at once, knowing how many failed.
func (b *Bot) retryLater(ctx context.Context, l *lease) {
	if l == nil {
		return
	}
	rec, _ := json.Marshal(leaseRecord{State: stateRetry, At: b.now().UnixMilli(), Attempts: l.attempts + 1})
	if _, err := b.store.Replace(ctx, l.key, rec, l.etag); err != nil {
		b.log.Warn("could not give the claim back; a retry will take it over when stale", "key", l.key, "err", err)
	}
}

// readLease returns the record at key; ok is false when there is none or it
// cannot be read.
func (b *Bot) readLease(ctx context.Context, key string) (rec leaseRecord, ok bool) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.store.Get(ctx, key)
	if err != nil || json.Unmarshal(data, &rec) != nil {
		return leaseRecord{}, false
	}
	return rec, true
}

// sleep waits d, or until ctx is done (see retry.Sleep).
var sleep = retry.Sleep
