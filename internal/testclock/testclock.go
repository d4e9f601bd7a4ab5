// Package testclock is the bot's clock in tests: real time, moved to early
// in a UTC day, plus whatever the test advances it by.
//
// Counts per UTC day (limits, free photos, /stats) are part of what the
// tests assert. On a clock that follows real time, a test that runs across
// midnight, or advances the clock by an hour at 23:30, sees its photos
// split over two days and fails at that hour only. Starting every test
// clock before 03:00 UTC leaves each test at least 21 hours of its day.
package testclock

import (
	"sync/atomic"
	"testing"
	"time"
)

// Clock is safe for concurrent use. The zero Clock is real time.
type Clock struct{ offset atomic.Int64 }

// New returns a clock that starts before 03:00 UTC of today (at real
// time when that is before 03:00, else at 01:00) and then moves with real
// time. It is never ahead of real time, so a message dated now is never in
// the clock's future.
func New() *Clock {
	c := &Clock{}
	now := time.Now().UTC()
	if sinceMidnight := now.Sub(now.Truncate(24 * time.Hour)); sinceMidnight > 3*time.Hour {
		c.offset.Store(int64(time.Hour - sinceMidnight))
	}
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// SameDay is for a test that counts per day on a clock it cannot set (a
// built plugin's): when less than d is left of the UTC day, it waits for
// the next day to begin, so that all the test's counts fall in one day.
func SameDay(t testing.TB, d time.Duration) {
	now := time.Now().UTC()
	if left := now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now); left < d {
		t.Logf("waiting %s for the next UTC day, so that the counts fall in one day", left.Round(time.Second))
		time.Sleep(left + time.Second)
	}
}
