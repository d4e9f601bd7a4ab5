package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// account is a user's Stars, accounts/{user_id}.json: changed only by
// compare-and-swap, like the quota's counters (quota.go), and kept for
// good (KeptPrefixes). Every change names what it is for, so that doing
// it twice does it once: a payment is credited by its charge id, a price
// is held by the claim of the job it pays for, and given back or kept
// (settled) by the same name; a refund is debited by its charge id.
type account struct {
	// Stars may be below zero after a refund: the next photo then asks
	// for a top-up.
	Stars int `json:"stars"`
	// Held are the prices of predictions in flight, by hold (the job's
	// claim): given back when no result reaches the user.
	Held map[string]held `json:"held,omitempty"`
	// Credited and Debited are the charge ids paid in and refunded, the
	// latest keptCharges of each: Telegram redelivers a payment within
	// a day, long before that many more are made.
	Credited []string `json:"credited,omitempty"`
	Debited  []string `json:"debited,omitempty"`
	// Purchases are the latest keptPurchases payments, for /balance.
	Purchases []purchase `json:"purchases,omitempty"`
}

type held struct {
	Stars int   `json:"stars"`
	At    int64 `json:"at"` // unix seconds
}

type purchase struct {
	ChargeID string `json:"charge_id"`
	Stars    int    `json:"stars"`
	At       int64  `json:"at"` // unix seconds
	Refunded bool   `json:"refunded,omitempty"`
}

const (
	keptCharges   = 200
	keptPurchases = 5
	// holdGrace: a hold neither kept nor given back a day after its
	// prediction's deadline never will be (its task has expired): it is
	// given back then (see expireHolds).
	holdGrace = 24 * time.Hour
)

// shortError: the balance cannot hold a price; nothing changed.
type shortError struct{ have int }

func (e *shortError) Error() string { return fmt.Sprintf("balance too low (%d)", e.have) }

// errShort is what a shortError is: errors.Is(err, errShort).
var errShort = errors.New("balance too low")

func (e *shortError) Is(target error) bool { return target == errShort }

// hold takes stars from the user's balance for the job whose claim is id,
// and returns what is left. Holding the same id twice holds once (a
// redelivery that took over a crashed request's claim).
func (b *Bot) hold(ctx context.Context, userID int64, id string, stars int) (left int, err error) {
	a, err := b.updateAccount(ctx, userID, func(a *account, now time.Time) (bool, error) {
		if _, ok := a.Held[id]; ok {
			return false, nil
		}
		if a.Stars < stars {
			return false, &shortError{have: a.Stars}
		}
		a.Stars -= stars
		a.Held[id] = held{Stars: stars, At: now.Unix()}
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	return a.Stars, nil
}

// giveBack returns the stars held as id to the balance, once: it reports
// how many came back (0 when they were given back or settled before).
func (b *Bot) giveBack(ctx context.Context, userID int64, id string) (returned, left int, err error) {
	a, err := b.updateAccount(ctx, userID, func(a *account, now time.Time) (bool, error) {
		returned = 0 // this attempt's: an earlier one may have lost the race
		h, ok := a.Held[id]
		if !ok {
			return false, nil
		}
		delete(a.Held, id)
		a.Stars += h.Stars
		returned = h.Stars
		return true, nil
	})
	if err != nil {
		return 0, 0, err
	}
	return returned, a.Stars, nil
}

// settle keeps the stars held as id: the result was delivered.
func (b *Bot) settle(ctx context.Context, userID int64, id string) error {
	_, err := b.updateAccount(ctx, userID, func(a *account, now time.Time) (bool, error) {
		_, ok := a.Held[id]
		delete(a.Held, id)
		return ok, nil
	})
	return err
}

// credit adds a payment to the balance, once per charge id: credited is
// false when it was credited before.
func (b *Bot) credit(ctx context.Context, userID int64, chargeID string, stars int) (credited bool, left int, err error) {
	a, err := b.updateAccount(ctx, userID, func(a *account, now time.Time) (bool, error) {
		credited = false // this attempt's: an earlier one may have lost the race
		if slices.Contains(a.Credited, chargeID) {
			return false, nil
		}
		a.Stars += stars
		a.Credited = latest(append(a.Credited, chargeID), keptCharges)
		a.Purchases = latest(append(a.Purchases, purchase{ChargeID: chargeID, Stars: stars, At: now.Unix()}), keptPurchases)
		credited = true
		return true, nil
	})
	if err != nil {
		return false, 0, err
	}
	return credited, a.Stars, nil
}

// debit takes a refunded payment back from the balance, once per charge
// id; the balance may go below zero.
func (b *Bot) debit(ctx context.Context, userID int64, chargeID string, stars int) (left int, err error) {
	a, err := b.updateAccount(ctx, userID, func(a *account, now time.Time) (bool, error) {
		if slices.Contains(a.Debited, chargeID) {
			return false, nil
		}
		a.Stars -= stars
		a.Debited = latest(append(a.Debited, chargeID), keptCharges)
		for i := range a.Purchases {
			if a.Purchases[i].ChargeID == chargeID {
				a.Purchases[i].Refunded = true
			}
		}
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	return a.Stars, nil
}

// readAccount reads a user's balance; a user who never paid has none.
func (b *Bot) readAccount(ctx context.Context, userID int64) (*account, error) {
	data, _, err := b.store.Get(ctx, accountKey(userID))
	if errors.Is(err, ErrNotFound) {
		return &account{}, nil
	}
	if err != nil {
		return nil, err
	}
	var a account
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", accountKey(userID), err)
	}
	b.expireHolds(&a, b.now()) // as the next write will have it
	return &a, nil
}

// expireHolds gives back the prices held longer than any prediction and
// its delivery can last (the prediction's deadline and a day): no result
// came (a webhook lost for good), or one came and its settle was lost.
// Either way the user gets the Stars: a Star paid ends on a delivered
// result or back on the balance, never lost. It returns the Stars given.
func (b *Bot) expireHolds(a *account, now time.Time) int {
	given := 0
	for id, h := range a.Held {
		if now.Sub(time.Unix(h.At, 0)) > b.opt.PredictionDeadline+holdGrace {
			delete(a.Held, id)
			a.Stars += h.Stars
			given += h.Stars
		}
	}
	return given
}

// updateAccount changes a user's balance by compare-and-swap, retried on
// conflict with a random pause (quota.go's casBackoff). change reports
// whether it changed anything: nothing is written when it did not. A
// balance that cannot be read is never started afresh (money would be
// lost): the error says so, and the operator mends the object.
func (b *Bot) updateAccount(ctx context.Context, userID int64, change func(*account, time.Time) (bool, error)) (*account, error) {
	key := accountKey(userID)
	for attempt := 0; attempt < casAttempts; attempt++ {
		if attempt > 0 && !sleep(ctx, casBackoff(attempt)) {
			break
		}
		data, etag, err := b.store.Get(ctx, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("reading %s: %w", key, err)
		}
		a := &account{}
		if err == nil && json.Unmarshal(data, a) != nil {
			b.log.Error("a balance is corrupt: fix or delete the object", "key", key)
			return nil, fmt.Errorf("%s is corrupt", key)
		}
		if a.Held == nil {
			a.Held = map[string]held{}
		}
		now := b.now()
		expired := b.expireHolds(a, now)
		changed, err := change(a, now)
		if err != nil || !changed && expired == 0 {
			return a, err
		}
		if expired > 0 {
			b.log.Warn("prices held past their prediction's life given back", "user_id", userID, "stars", expired)
		}
		out, _ := json.Marshal(a)
		if etag == "" {
			_, err = b.store.Create(ctx, key, out)
		} else {
			_, err = b.store.Replace(ctx, key, out, etag)
		}
		if errors.Is(err, ErrExists) || errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", key, err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("updating %s: %w", key, errContended)
}

// latest keeps the last n of list.
func latest[T any](list []T, n int) []T {
	if len(list) > n {
		return slices.Clone(list[len(list)-n:])
	}
	return list
}
