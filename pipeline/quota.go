package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// usage is a user's spending, users/{user_id}.json: predictions created
// today (UTC) and the ones in flight, by update id, with when each stops
// counting even if its result never arrives.
type usage struct {
	Day    string           `json:"day"`
	Count  int              `json:"count"`
	Active map[string]int64 `json:"active,omitempty"`
}

var (
	errTooManyActive = errors.New("too many predictions in flight")
	errDailyLimit    = errors.New("daily limit reached")
	// errContended: the user's counter kept changing under every attempt
	// to update it. Nothing started: a transient failure, not "in
	// progress" (which would leave the press's claim held).
	errContended = errors.New("the user's counter is contended")
)

// casAttempts bounds updateUsage's compare-and-swap loop.
const casAttempts = 20

// limited reports whether the user's spending is limited at all.
func (b *Bot) limited(u *User) bool {
	return u != nil && (b.opt.MaxActive > 0 || b.opt.DailyLimit > 0) && !b.opt.Admins.Has(u)
}

// counted reports whether a user's predictions of effect e are counted:
// for the limits, or for the free photos of the day before a price.
func (b *Bot) counted(u *User, e *Effect) bool {
	return b.limited(u) || b.opt.FreePerDay > 0 && b.priceOf(u, e) > 0
}

// reserve counts one more prediction for the user, or refuses with
// errTooManyActive or errDailyLimit. It is a compare-and-swap on the
// user's object, retried on conflict, so concurrent photos cannot overrun
// a limit. Reserving the same update twice counts it once. It returns
// the user's count of the day, this prediction included: the first
// FreePerDay are free (a second reservation of the same update cannot
// tell its place, and says the day's count).
func (b *Bot) reserve(ctx context.Context, userID, updateID int64) (count int, err error) {
	err = b.updateUsage(ctx, userID, func(u *usage, now time.Time) error {
		id := strconv.FormatInt(updateID, 10)
		count = u.Count
		if _, ok := u.Active[id]; ok {
			return nil
		}
		if b.opt.MaxActive > 0 && len(u.Active) >= b.opt.MaxActive {
			return errTooManyActive
		}
		if b.opt.DailyLimit > 0 && u.Count >= b.opt.DailyLimit {
			return errDailyLimit
		}
		u.Count++
		count = u.Count
		u.Active[id] = now.Add(b.opt.PredictionDeadline + 10*time.Minute).Unix()
		return nil
	})
	return count, err
}

// unreserve ends a reservation: the prediction finished, or (refund) was
// never made.
func (b *Bot) unreserve(ctx context.Context, userID, updateID int64, refund bool) error {
	return b.updateUsage(ctx, userID, func(u *usage, now time.Time) error {
		id := strconv.FormatInt(updateID, 10)
		if _, ok := u.Active[id]; !ok {
			return nil
		}
		delete(u.Active, id)
		if refund && u.Count > 0 {
			u.Count--
		}
		return nil
	})
}

func (b *Bot) updateUsage(ctx context.Context, userID int64, change func(*usage, time.Time) error) error {
	key := usageKey(userID)
	for attempt := 0; attempt < casAttempts; attempt++ {
		if attempt > 0 && !sleep(ctx, casBackoff(attempt)) {
			break
		}
		data, etag, err := b.store.Get(ctx, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		var u usage
		if err == nil && json.Unmarshal(data, &u) != nil {
			u = usage{} // unreadable: start afresh rather than block the user
		}
		now := b.now()
		today := now.UTC().Format("2006-01-02")
		if u.Day != today {
			u.Day, u.Count = today, 0
		}
		if u.Active == nil {
			u.Active = map[string]int64{}
		}
		for id, until := range u.Active {
			if until < now.Unix() {
				delete(u.Active, id)
			}
		}
		if err := change(&u, now); err != nil {
			return err
		}
		out, _ := json.Marshal(u)
		if etag == "" {
			_, err = b.store.Create(ctx, key, out)
		} else {
			_, err = b.store.Replace(ctx, key, out, etag)
		}
		if errors.Is(err, ErrExists) || errors.Is(err, ErrConflict) {
			continue // someone else changed it: read again
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("updating %s: %w", key, errContended)
}

// casBackoff is the pause before the attempt-th compare-and-swap: random
// (so that writers that collided do not collide again in step), growing
// to at most 40 ms, so all attempts fit well within one call's timeout.
func casBackoff(attempt int) time.Duration {
	ceiling := time.Millisecond << min(attempt, 5) // 2 ms … 32 ms
	return time.Millisecond + rand.N(ceiling)
}
