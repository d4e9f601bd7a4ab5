package testclock

import (
	"testing"
	"time"
)

func TestNewReadsEarlyInTheDayAndNeverAhead(t *testing.T) {
	c := New()
	got, now := c.Now().UTC(), time.Now().UTC()
	if since := got.Sub(got.Truncate(24 * time.Hour)); since >= 3*time.Hour+time.Minute {
		t.Errorf("the clock reads %s, %s into its day; want under 3h", got, since)
	}
	if got.After(now) {
		t.Errorf("the clock reads %s, ahead of real time %s", got, now)
	}
	c.Advance(time.Hour)
	if d := c.Now().Sub(got); d < time.Hour || d > time.Hour+time.Minute {
		t.Errorf("advanced by an hour, the clock moved %s", d)
	}
	if d := time.Until((&Clock{}).Now()).Abs(); d > time.Second {
		t.Errorf("the zero clock is %s off real time", d)
	}
}
