// Package stats keeps photobot's daily numbers in the bucket, for /stats:
// the pipeline.Ledger port. See docs/stats.md for the layout and why.
//
// Every count is one compare-and-swap on one of Shards objects of the day,
// stats/{yyyy-mm-dd}/{shard}.json, picked at random, and on a conflict on
// another: no object that every photo rewrites, so writers at 100 photos/s
// spread out instead of thrashing. A closed day's shards are summed once,
// by the first /stats that needs them, into stats/{yyyy-mm-dd}.json
// (If-None-Match); from then on /stats reads one object for that day.
package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/photobot/photobot/pipeline"
)

// Prefix is where the numbers live; a lifecycle rule keeps them 400 days.
const Prefix = pipeline.StatsPrefix

// Shards is how many objects a day's counts spread over.
const Shards = 32

// attempts bounds a count's compare-and-swaps.
const attempts = 8

// Ledger is the pipeline.Ledger in a Store.
type Ledger struct {
	store pipeline.Store
	log   *slog.Logger
}

var _ pipeline.Ledger = (*Ledger)(nil)

// New keeps the numbers in store.
func New(store pipeline.Store, log *slog.Logger) *Ledger {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Ledger{store: store, log: log}
}

// record is a shard's, or a day's, numbers. Money is in micro-USD and time
// in milliseconds, whole numbers, so that sums do not drift.
type record struct {
	Photos   int64            `json:"photos,omitempty"`
	Outcomes map[string]int64 `json:"outcomes,omitempty"`
	Effects  map[string]int64 `json:"effects,omitempty"`
	ModelMS  int64            `json:"model_ms,omitempty"`
	SpendUSD int64            `json:"spend_micro_usd,omitempty"`
	Counters map[string]int64 `json:"counters,omitempty"`
	Users    sketch           `json:"users"`
	Alert    *pipeline.Alert  `json:"alert,omitempty"` // the day's latest
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func shardKey(d string, n int) string { return Prefix + d + "/" + strconv.Itoa(n) + ".json" }

func rollupKey(d string) string { return Prefix + d + ".json" }

// Count adds one photo's outcome to its day.
func (l *Ledger) Count(ctx context.Context, e *pipeline.Event) error {
	return l.change(ctx, e.At, func(r *record) {
		add(&r.Outcomes, e.Outcome, 1)
		if e.Spent != 0 {
			add(&r.Counters, pipeline.CounterStarsHeld, -int64(e.Spent))
		}
		if e.User != 0 {
			r.Users.add(e.User)
		}
		if !pipeline.Processed(e.Outcome) {
			return
		}
		r.Photos++
		if e.Effect != "" {
			add(&r.Effects, e.Effect, 1)
		}
		r.ModelMS += e.Took.Milliseconds()
		r.SpendUSD += int64(e.Spend*1e6 + 0.5)
	})
}

// Add adds n to a counter of at's day.
func (l *Ledger) Add(ctx context.Context, at time.Time, counter string, n int64) error {
	return l.change(ctx, at, func(r *record) { add(&r.Counters, counter, n) })
}

// Alerted records a, the day's latest alert.
func (l *Ledger) Alerted(ctx context.Context, a *pipeline.Alert) error {
	return l.change(ctx, a.At, func(r *record) {
		if r.Alert == nil || a.At.After(r.Alert.At) {
			r.Alert = a
		}
	})
}

func add(m *map[string]int64, k string, n int64) {
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k] += n
}

// change applies f to a shard of at's day: a compare-and-swap, retried on
// another shard when someone else wrote the one it read.
func (l *Ledger) change(ctx context.Context, at time.Time, f func(*record)) error {
	d := day(at)
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 && !pause(ctx, attempt) {
			break
		}
		key := shardKey(d, rand.N(Shards))
		var r record
		var etag string
		r, etag, err = l.read(ctx, key)
		if err != nil && !errors.Is(err, pipeline.ErrNotFound) {
			return err
		}
		f(&r)
		data, _ := json.Marshal(&r)
		if etag == "" {
			_, err = l.store.Create(ctx, key, data)
		} else {
			_, err = l.store.Replace(ctx, key, data, etag)
		}
		if err == nil || !errors.Is(err, pipeline.ErrExists) && !errors.Is(err, pipeline.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("stats: every shard tried was busy: %w", err)
}

// read reads a record; an unreadable one is started afresh (logged) rather
// than block counting for the day.
func (l *Ledger) read(ctx context.Context, key string) (record, string, error) {
	var r record
	data, etag, err := l.store.Get(ctx, key)
	if err != nil {
		return r, "", err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		l.log.Warn("stats: an unreadable record is started afresh", "key", key, "err", err)
		return record{}, etag, nil
	}
	return r, etag, nil
}

// pause waits a little, at random, before another try.
func pause(ctx context.Context, attempt int) bool {
	t := time.NewTimer(time.Millisecond + rand.N(time.Millisecond<<min(attempt, 4)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
