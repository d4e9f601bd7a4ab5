package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/photobot/photobot/pipeline"
)

// grace is how long after midnight (UTC) a day's shards may still take a
// count (one that started before midnight): only then is the day rolled up.
const grace = 15 * time.Minute

// readers bounds the reads of one report in flight.
const readers = 32

// Report sums the days (UTC) that end with now's: one object per closed
// day (its rollup, made here once if missing), the shards of the others.
func (l *Ledger) Report(ctx context.Context, now time.Time, days int) (*pipeline.Report, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	recs := make([]record, days)
	errs := make([]error, days)
	sem := make(chan struct{}, readers)
	var wg sync.WaitGroup
	for i := range days {
		wg.Add(1)
		go func() {
			defer wg.Done()
			date := today.AddDate(0, 0, i-days+1)
			recs[i], errs[i] = l.load(ctx, date, now, sem)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return summarize(today, recs), nil
}

// load is one day's record.
func (l *Ledger) load(ctx context.Context, date, now time.Time, sem chan struct{}) (record, error) {
	d := day(date)
	if now.Before(date.Add(24*time.Hour + grace)) {
		return l.sum(ctx, d, sem)
	}
	sem <- struct{}{}
	r, _, err := l.read(ctx, rollupKey(d))
	<-sem
	if !errors.Is(err, pipeline.ErrNotFound) {
		return r, err
	}
	if r, err = l.sum(ctx, d, sem); err != nil {
		return r, err
	}
	data, _ := json.Marshal(&r)
	sem <- struct{}{}
	_, err = l.store.Create(ctx, rollupKey(d), data)
	<-sem
	if err != nil && !errors.Is(err, pipeline.ErrExists) {
		l.log.Warn("stats: a day's rollup was not saved; the next /stats sums its shards again", "day", d, "err", err)
	}
	return r, nil
}

// sum adds up a day's shards.
func (l *Ledger) sum(ctx context.Context, d string, sem chan struct{}) (record, error) {
	shards := make([]record, Shards)
	errs := make([]error, Shards)
	var wg sync.WaitGroup
	for n := range Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			shards[n], _, err = l.read(ctx, shardKey(d, n))
			if err != nil && !errors.Is(err, pipeline.ErrNotFound) {
				errs[n] = fmt.Errorf("stats: %s: %w", shardKey(d, n), err)
			}
		}()
	}
	wg.Wait()
	var total record
	for _, r := range shards {
		total.merge(&r)
	}
	return total, errors.Join(errs...)
}

// merge adds o to r.
func (r *record) merge(o *record) {
	r.Photos += o.Photos
	r.ModelMS += o.ModelMS
	r.SpendUSD += o.SpendUSD
	for k, n := range o.Outcomes {
		add(&r.Outcomes, k, n)
	}
	for k, n := range o.Effects {
		add(&r.Effects, k, n)
	}
	for k, n := range o.Counters {
		add(&r.Counters, k, n)
	}
	r.Users.merge(&o.Users)
	if o.Alert != nil && (r.Alert == nil || o.Alert.At.After(r.Alert.At)) {
		r.Alert = o.Alert
	}
}

// summarize makes the report of recs, the days that end with today.
func summarize(today time.Time, recs []record) *pipeline.Report {
	rep := &pipeline.Report{}
	var week, month record
	n := len(recs)
	for i := range recs {
		r := &recs[i]
		rep.Days = append(rep.Days, pipeline.Day{Date: today.AddDate(0, 0, i-n+1), Totals: r.totals()})
		if i >= n-7 {
			week.merge(r)
		}
		month.merge(r)
	}
	if n > 0 {
		rep.Today = rep.Days[n-1].Totals
	}
	rep.Week, rep.Month = week.totals(), month.totals()
	rep.LastAlert = month.Alert
	return rep
}

func (r *record) totals() pipeline.Totals {
	return pipeline.Totals{Photos: r.Photos, Users: r.Users.count(), Outcomes: orEmpty(r.Outcomes),
		Effects: orEmpty(r.Effects), ModelTime: time.Duration(r.ModelMS) * time.Millisecond,
		Spend: float64(r.SpendUSD) / 1e6, Counters: orEmpty(r.Counters)}
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}
