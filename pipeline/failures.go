package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GiveUpAfter is how long after a message was sent photobot keeps asking
// Telegram to redeliver it on transient failures. After that the user is
// told the service is busy and the update is answered, so that a long
// outage does not block the chat's queue for a day.
const GiveUpAfter = 10 * time.Minute

// failed decides what an intake failure means for the user. Permanent
// failures get a message and the job is done. Transient ones release the
// claim and return the error so that Telegram delivers the update again,
// until the message is GiveUpAfter old: then the user is told to try later.
func (j *job) failed(ctx context.Context, err error) (*Response, error) {
	cctx, cancel := cleanup(ctx)
	defer cancel()
	done := func(text string) (*Response, error) {
		if j.lease != nil {
			if err := j.b.finish(cctx, j.claim, stateDone, ""); err != nil {
				j.log.Warn("could not mark the claim done", "err", err)
			}
		}
		return reply(j.photo, text), nil
	}
	switch {
	case errors.Is(err, ErrTooBig):
		return done(j.t.TooBig)
	case errors.Is(err, errNotAnImage):
		return done(j.t.NotAnImage)
	case errors.Is(err, errTooManyActive):
		return done(fmt.Sprintf(j.t.LimitActive, j.b.opt.MaxActive))
	case errors.Is(err, errDailyLimit):
		return done(fmt.Sprintf(j.t.LimitDaily, j.b.opt.DailyLimit))
	case errors.Is(err, ErrRejected):
		j.log.Warn("model rejected the input", "err", err)
		return done(fmt.Sprintf(j.t.Rejected, shorten(reason(err), 300)))
	case errors.Is(err, ErrFileGone):
		j.log.Warn("Telegram would not give the photo", "err", err)
		return done(j.t.NoDownload)
	case errors.Is(err, ErrConfig):
		j.log.Error("photo refused: check the configuration", "err", err)
		return done(j.t.Unavailable)
	case errors.Is(err, ErrRefused):
		// The store's rights are wrong, or not yet in force (a new
		// deployment's access bindings take a while): retried, then "busy".
		j.log.Error("the store refuses: check the bucket's access", "err", err)
	case errors.Is(err, ErrInProgress):
		j.log.Warn("update is being handled by another delivery")
		return nil, err
	}
	if age := j.b.now().Sub(j.photo.Date); age > GiveUpAfter {
		j.log.Error("giving up on a photo after transient failures", "age", age.Round(time.Second).String(), "err", err)
		return done(j.t.Busy)
	}
	j.log.Warn("transient failure; Telegram will retry", "err", err)
	j.b.release(cctx, j.lease)
	return nil, err
}

// Reason is implemented by errors that carry a reason meant for people
// (a model's refusal of its input).
type Reason interface{ Reason() string }

func reason(err error) string {
	var r Reason
	if errors.As(err, &r) {
		return r.Reason()
	}
	return err.Error()
}
