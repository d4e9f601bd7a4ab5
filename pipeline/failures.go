package pipeline

import (
	"context"
	"errors"
	"time"
)

// GiveUpAfter is how long after a message was sent photobot keeps asking
// Telegram to redeliver it on transient failures. After that the user is
// told the service is busy and the update is answered, so that a long
// outage does not block the chat's queue for a day.
const GiveUpAfter = 10 * time.Minute

// failed decides what an intake failure means for the user.
//
// A photo: permanent failures get a message and the update is done;
// transient ones release the claim and return the error so that Telegram
// delivers the update again, until the message is GiveUpAfter old: then
// the user is told to try later.
//
// A press is never retried by Telegram (the presser can press again): the
// failure is told at once, in the press's answer if it was not answered
// yet, else in the pressed message.
func (j *job) failed(ctx context.Context, err error) (*Response, error) {
	cctx, cancel := cleanup(ctx)
	defer cancel()
	text, kind := j.meaning(err)
	retry := kind == transient
	j.b.alert(cctx, err)
	if j.press != nil {
		if retry {
			j.log.Warn("transient failure; the presser is told to press again", "err", err)
		}
		j.countIntake(cctx, err, kind, false)
		return j.pressFailed(cctx, withNote(text, "\n", j.returned), kind), nil
	}
	if errors.Is(err, ErrInProgress) {
		j.log.Warn("update is being handled by another delivery")
		return nil, err
	}
	if retry {
		if age := j.b.now().Sub(j.photo.Date); age <= GiveUpAfter {
			j.log.Warn("transient failure; Telegram will retry", "err", err)
			j.b.release(cctx, j.lease)
			j.statusRetried(cctx) // progress.go
			return nil, err
		}
		j.log.Error("giving up on a photo after transient failures", "age", j.b.now().Sub(j.photo.Date).Round(time.Second).String(), "err", err)
		text = j.w.Busy
	}
	j.countIntake(cctx, err, kind, retry)
	j.done(cctx)
	text = withNote(text, "\n", j.returned)
	if j.posted != 0 { // a replied job's status says it
		return &Response{Reply: &Reply{ChatID: j.photo.ChatID, Edit: j.posted, Text: text}}, nil
	}
	return reply(j.photo, text), nil
}

type failureKind int

const (
	permanent failureKind = iota // told, and done
	transient                    // worth another try
	limited                      // the user's limits: later
)

// meaning sorts an intake failure: the words for the user (for a
// transient one, "busy"), and its kind.
func (j *job) meaning(err error) (string, failureKind) {
	w := j.w
	switch {
	case errors.Is(err, ErrTooBig):
		return w.TooBig, permanent
	case errors.Is(err, errNotAnImage):
		return w.NotAnImage, permanent
	case errors.Is(err, errTooManyActive):
		return w.plural(j.b.opt.MaxActive, w.LimitActive), limited
	case errors.Is(err, errDailyLimit):
		return w.plural(j.b.opt.DailyLimit, w.LimitDaily), limited
	case errors.Is(err, ErrRejected):
		j.log.Warn("model refused the input", "err", err)
		return w.InputRefused, permanent
	case errors.Is(err, ErrFileGone):
		j.log.Warn("Telegram would not give the photo", "err", err)
		return w.NoDownload, permanent
	case errors.Is(err, ErrConfig):
		j.log.Error("photo refused: check the configuration", "err", err)
		return w.Unavailable, permanent
	case errors.Is(err, ErrRefused):
		// The store's rights are wrong (or not yet in force: a new
		// deployment's access bindings take a minute). Retries would keep
		// the user waiting in silence until the operator, who is alerted,
		// fixes it: the user is told at once, and sends the photo again.
		j.log.Error("the store refuses: check the bucket's access", "err", err)
		return w.Unavailable, permanent
	}
	return w.BusyPress, transient
}

// pressFailed tells the presser. A limit or a transient failure releases
// the claim, so that the same button works again later; anything else
// marks it done.
func (j *job) pressFailed(ctx context.Context, text string, kind failureKind) *Response {
	if kind == permanent {
		j.done(ctx)
	} else {
		j.b.release(ctx, j.lease)
	}
	switch {
	case !j.answered:
		j.answer(text, true)
		return nil
	case kind == limited:
		return nil // the answer said it
	case !j.press.OnText:
		return reply(j.photo, text) // under a result: a message of its own
	}
	buttons := j.b.resultButtons(j.w, j.effect, "")
	if kind == transient {
		buttons = j.w.menu
	}
	return &Response{Reply: &Reply{ChatID: j.press.ChatID, Edit: j.press.MessageID, Text: text, Buttons: buttons}}
}

// done marks the job's claim done for good: a failure was told.
func (j *job) done(ctx context.Context) {
	if j.lease == nil {
		return
	}
	if err := j.b.finish(ctx, j.claimKey, stateDone, ""); err != nil {
		j.log.Warn("could not mark the claim done", "err", err)
	}
}
