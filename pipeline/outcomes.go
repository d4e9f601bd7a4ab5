package pipeline

import (
	"context"
	"errors"
	"regexp"
	"time"
)

// How a photo ended: in words for the user (outcomeText) and as a kind
// for /stats (outcomeKind), both from the prediction's status and the
// model's error.
//
// Counting for /stats: each photo's outcome is counted once, where it
// becomes known (a result delivered or not, a cancel, a refusal), through
// the Ledger port (package stats keeps it in the bucket). Counting is
// bookkeeping: it runs beside the rest, under countTimeout, and a failure
// is logged and forgotten, never the photo's.

// Ledger keeps the bot's daily numbers.
type Ledger interface {
	// Count adds one photo's outcome to the numbers of its day (UTC).
	Count(ctx context.Context, e *Event) error
	// Add adds n to a named counter of at's day (CounterStarsEarned...).
	Add(ctx context.Context, at time.Time, counter string, n int64) error
	// Alerted records an alert sent to the admins, for /stats.
	Alerted(ctx context.Context, a *Alert) error
	// Report sums the numbers of the days that end with now's.
	Report(ctx context.Context, now time.Time, days int) (*Report, error)
	// Chart draws a report's days as a PNG.
	Chart(r *Report) ([]byte, error)
}

// Counters a payments flow adds to (Ledger.Add), in Stars; /stats shows
// them when payments are on (Options.ShowStars).
const (
	CounterStarsEarned   = "stars_earned"
	CounterStarsRefunded = "stars_refunded"
	CounterStarsHeld     = "stars_held"
)

// Outcome kinds: how a photo ended.
const (
	Delivered      = "delivered"
	FailedMemory   = "failed_memory"  // the model ran out of memory
	FailedInput    = "failed_input"   // the model could not read the photo
	FailedTimeout  = "failed_timeout" // too long: stopped (Cancel-After, or the model's own timeout)
	FailedModel    = "failed_model"   // the model failed otherwise
	FailedEmpty    = "failed_empty"   // the model returned nothing
	Expired        = "expired"        // never started before the deadline
	Undelivered    = "undelivered"    // a result Telegram would not take or that could not be sent in time
	CanceledByUser = "canceled"
	RefusedLimit   = "refused_limit"  // MAX_ACTIVE or DAILY_LIMIT
	RefusedAccess  = "refused_access" // not in ALLOWED_USERS
	Unavailable    = "unavailable"    // Replicate or the bucket refused the bot (an alert), or gave up busy
)

// Processed reports whether an outcome is of a photo a model ran on (or
// was asked to): it counts in "photos", model time and spend.
func Processed(outcome string) bool {
	switch outcome {
	case RefusedLimit, RefusedAccess, Unavailable:
		return false
	}
	return true
}

// Event is one photo's outcome.
type Event struct {
	At      time.Time
	User    int64 // 0 when unknown
	Effect  string
	Outcome string
	Took    time.Duration // the model's time (Replicate's predict_time)
	Spend   float64       // estimated USD (Effect.Cost, CostPerSecond)
	// Spent is the price kept for a delivered result, in Stars: taken off
	// the balances (CounterStarsHeld) in the same write.
	Spent int
}

// Alert is an alert sent to the admins.
type Alert struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// Totals are the numbers of a span of days.
type Totals struct {
	Photos    int64            // processed (see Processed)
	Users     int64            // distinct, estimated
	Outcomes  map[string]int64 // by outcome kind
	Effects   map[string]int64 // processed, by effect id
	ModelTime time.Duration
	Spend     float64 // USD, estimated
	Counters  map[string]int64
}

// Day is one UTC day's totals.
type Day struct {
	Date time.Time // midnight UTC
	Totals
}

// Report is what /stats shows.
type Report struct {
	Days               []Day // oldest first; the last is today
	Today, Week, Month Totals
	LastAlert          *Alert // nil when none in the span
}

// countTimeout bounds one count: it waits beside other bookkeeping, and
// gives up rather than hold a request.
const countTimeout = 2 * time.Second

// count adds e to the ledger, if any: bounded, and logged on failure.
func (b *Bot) count(ctx context.Context, e *Event) {
	if b.ledger == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(countTimeout, b.opt.CallTimeout))
	defer cancel()
	e.At = b.now()
	if err := b.ledger.Count(ctx, e); err != nil {
		b.log.Warn("the photo was not counted in /stats", "outcome", e.Outcome, "err", err)
	}
}

// spend is what a prediction of e that ran for took costs, as estimated.
func spend(e *Effect, took time.Duration) float64 {
	return e.Cost + e.CostPerSecond*took.Seconds()
}

// countDelivery counts a prediction's outcome once its delivery is over.
func (d *delivery) count(ctx context.Context) {
	e := d.effect()
	ev := &Event{User: d.task.UserID, Effect: e.ID, Outcome: d.outcomeKind(), Took: d.o.Took}
	if d.task.Hold != "" && d.kept {
		ev.Spent = d.task.Stars
	}
	if ev.Outcome != Expired { // an aborted prediction never ran: not billed
		ev.Spend = spend(e, d.o.Took)
	}
	d.b.count(ctx, ev)
}

// outcomeKind sorts a delivered prediction as outcomeText words it.
func (d *delivery) outcomeKind() string {
	o := d.o
	switch {
	case d.undelivered && o.Status == Succeeded:
		return Undelivered
	case o.Status == Succeeded && (len(o.Files) > 0 || o.Text != ""):
		return Delivered
	case o.Status == Succeeded:
		return FailedEmpty
	case o.Status == Aborted:
		return Expired
	case o.Status == Canceled:
		return FailedTimeout
	case outOfMemory.MatchString(o.Error):
		return FailedMemory
	case badInput.MatchString(o.Error):
		return FailedInput
	case timedOut.MatchString(o.Error):
		return FailedTimeout
	}
	return FailedModel
}

// countStars adds n (which may be negative) to a Stars counter of today,
// for /stats: earned and refunded as payments are credited and refunded;
// held is the net change of the balances (a payment adds, a kept price or
// a refund takes away).
func (b *Bot) countStars(ctx context.Context, counter string, n int) {
	if b.ledger == nil || n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
	defer cancel()
	if err := b.ledger.Add(ctx, b.now(), counter, int64(n)); err != nil {
		b.log.Warn("stats: Stars not counted", "counter", counter, "err", err)
	}
}

// countIntake counts a photo the intake refused or gave up on; transient
// failures that Telegram will redeliver are not counted (the redelivery is).
func (j *job) countIntake(ctx context.Context, err error, kind failureKind, givenUp bool) {
	ev := &Event{User: userID(j.user), Effect: j.effect.ID}
	switch {
	case kind == limited:
		ev.Outcome = RefusedLimit
	case errors.Is(err, ErrRejected):
		ev.Outcome = FailedInput
	case errors.Is(err, ErrConfig), errors.Is(err, ErrRefused), givenUp:
		ev.Outcome = Unavailable
	default:
		return // a file that is no photo, or could not be had: not a photo processed
	}
	j.b.count(ctx, ev)
}

// How a model fails, by the words of its error (Replicate passes the
// model's exception text on).
var (
	outOfMemory = regexp.MustCompile(`(?i)out of memory|OutOfMemoryError|\bOOM\b|CUDA error: out of memory|memory limit`)
	badInput    = regexp.MustCompile(`(?i)cannot identify image|image file is truncated|unsupported image|invalid image|not a valid image|decode|input validation|invalid input`)
	timedOut    = regexp.MustCompile(`(?i)timed? ?out|deadline`)
)

// outcomeText is what the user reads of a prediction that gave no result.
// The model's own words go to the operator's log only.
func (d *delivery) outcomeText() string {
	w, o := d.w, d.o
	switch o.Status {
	case Succeeded:
		return w.NoOutput
	case Aborted:
		return w.Expired
	case Canceled:
		return w.TookTooLong // not by photobot: by Cancel-After, or on the website
	}
	d.log.Warn("the model failed", "model_error", shorten(redactURLs(o.Error), 2000))
	switch {
	case outOfMemory.MatchString(o.Error):
		return w.OutOfMemory
	case badInput.MatchString(o.Error):
		return w.InputRefused
	case timedOut.MatchString(o.Error):
		return w.TookTooLong
	}
	return w.ModelFailed
}
