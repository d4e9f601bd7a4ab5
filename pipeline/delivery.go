package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// HandlePrediction is what happens when a prediction is done: load its
// task ∥ claim the delivery (once only); send the result; mark it
// delivered; delete the task and the photo, free the user's slot. Two
// round trips in a row before the result is sent. It returns nil when the
// webhook needs no retry, ErrUnknownPrediction or ErrInProgress when it
// should be retried later, and other errors for transient failures.
func (b *Bot) HandlePrediction(ctx context.Context, o *Outcome) error {
	if !validPredictionID(o.ID) {
		return ErrInvalidPrediction
	}
	if !o.Terminal() {
		return b.started(ctx, o) // the model started: the status may say so (progress.go)
	}
	d := &delivery{b: b, o: o, log: b.log.With("prediction_id", o.ID, "status", o.Status)}
	claimed := make(chan error, 1)
	go func() {
		var err error
		d.lease, err = b.acquire(ctx, deliveryKey(o.ID), nil)
		claimed <- err
	}()
	task, err := b.loadTask(ctx, o.ID)
	claimErr := <-claimed
	switch {
	case errors.Is(err, ErrNotFound):
		return d.noTask(ctx, claimErr)
	case err != nil:
		d.releaseOnError(ctx)
		if errors.Is(err, ErrRefused) {
			d.log.Error("the store refuses to read the task: this result cannot be delivered until the bucket's access is fixed", "err", err)
			b.alert(ctx, err)
		}
		return fmt.Errorf("loading task: %w", err)
	}
	d.task, d.w = task, b.wordsFor(task.Language)
	d.log = d.log.With("chat_id", task.ChatID)

	switch {
	case errors.Is(claimErr, errDone):
		d.log.Info("duplicate webhook ignored")
		d.forget(ctx, true)
		return nil
	case errors.Is(claimErr, errCanceled):
		// The slot was freed by the cancel, or refunded for the redo of
		// an abandoned prediction, which holds it again now.
		d.log.Info("prediction was canceled; nothing to send")
		d.forget(ctx, false)
		return nil
	case errors.Is(claimErr, ErrRefused):
		// Claims are impossible here (the store's rights are wrong): better
		// one result sent without a claim than silence.
		d.log.Error("the store refuses the delivery claim; sending without it", "err", claimErr)
		b.alert(ctx, claimErr)
		if err := d.send(ctx); err != nil && !hopeless(err) {
			return fmt.Errorf("sending the result: %w", err)
		}
		return nil
	case claimErr != nil:
		return claimErr
	}

	if err := d.sendOrGiveUp(ctx); err != nil {
		return err
	}
	d.done(ctx)
	return nil
}

// done is the bookkeeping of a delivered result: the delivery marked done,
// then the task and the photo deleted. In that order: a request that finds
// the task gone (a redelivery's double-check, an abandon) then finds the
// mark, and two failures in a row are needed for a late duplicate to find
// a task with no mark.
func (d *delivery) done(ctx context.Context) {
	counted := make(chan struct{}) // for /stats, beside the rest
	go func() {
		defer close(counted)
		cctx, cancel := cleanup(ctx)
		defer cancel()
		d.count(cctx)
	}()
	defer func() { <-counted }()
	cctx, cancel := cleanup(ctx)
	if err := d.b.finish(cctx, deliveryKey(d.o.ID), stateDone, d.o.ID); err != nil {
		// The user has the result; a redelivery will find the lease
		// busy until it is stale, then no task. Answer success rather
		// than risk a second copy.
		d.log.Warn("delivery not marked done", "err", err)
	}
	cancel()
	cctx, cancel = cleanup(ctx)
	defer cancel()
	d.forget(cctx, true)
}

// maxSendAttempts is how many webhooks try to send a result before the
// last one tells the user, in a plain message, that it did not go through.
// A result that cannot be transferred within the deadline fails the same
// way every time, and Replicate stops retrying after a few tries: without
// this the user would hear nothing and their slot would stay held.
const maxSendAttempts = 3

// sendOrGiveUp sends the result. A transient failure gives the claim back,
// counted, and returns the error (the webhook is retried), until the
// maxSendAttempts-th for a result with files: then the user is told and
// the delivery is done. It returns nil when the delivery is over.
func (d *delivery) sendOrGiveUp(ctx context.Context) error {
	err := d.send(ctx)
	switch {
	case err == nil:
		d.log.Info("result delivered")
		return nil
	case hopeless(err):
		// Blocked by the user, chat gone, a message Telegram refuses:
		// nothing will ever help.
		d.log.Warn("result cannot be delivered", "err", err)
		d.undelivered = true
		if err := d.giveBack(ctx); err != nil {
			d.log.Error("the price of an undeliverable result was not given back", "err", err)
		}
		return nil
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if d.lease.attempts+1 < maxSendAttempts || len(d.o.Files) == 0 {
		d.b.retryLater(cctx, d.lease)
		return fmt.Errorf("sending the result: %w", err)
	}
	d.log.Error("the result could not be sent after several attempts (too big to transfer in time?); telling the user",
		"attempts", d.lease.attempts+1, "err", err)
	buttons := d.buttons()
	text := d.w.TooSlow
	if buttons != nil {
		text = d.w.TooSlowAgain
	}
	if err := d.giveBack(cctx); err != nil {
		d.b.retryLater(cctx, d.lease)
		return err
	}
	if err := d.text(cctx, withNote(text, "\n", d.returned), buttons); err != nil && !hopeless(err) {
		d.b.retryLater(cctx, d.lease)
		return fmt.Errorf("telling the user the result did not go through: %w", err)
	}
	d.undelivered = true
	return nil
}

// delivery is one prediction's result on its way to the user.
type delivery struct {
	b     *Bot
	o     *Outcome
	task  *Task
	w     *words
	log   *slog.Logger
	lease *lease
	// undelivered: the result could not be sent, for good (counted so).
	undelivered bool
	// gaveBack: the task's price went back to the balance (returned says
	// so to the user); else a delivered result keeps it.
	gaveBack bool
	returned string
	kept     bool // the result reached the user: the price is kept
}

// noTask answers a webhook whose task is not there: delivered already, or
// canceled by photobot (answered 200); or not saved yet (a fast model's
// webhook overtook the save: Replicate retries).
func (d *delivery) noTask(ctx context.Context, claimErr error) error {
	switch {
	case errors.Is(claimErr, errDone):
		d.log.Info("duplicate webhook ignored")
		return nil
	case errors.Is(claimErr, errCanceled):
		d.log.Info("webhook of a prediction photobot canceled")
		return nil
	}
	d.releaseOnError(ctx)
	d.log.Warn("no task for this prediction (yet); asking for a retry")
	return ErrUnknownPrediction
}

// releaseOnError gives back a delivery claim taken for nothing.
func (d *delivery) releaseOnError(ctx context.Context) {
	if d.lease == nil {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	d.b.release(cctx, d.lease)
}

// forget deletes the task and the user's photo (the spec's cleanup) and,
// with slot, frees the user's slot: all three at once.
func (d *delivery) forget(ctx context.Context, slot bool) {
	b, t := d.b, d.task
	var wg sync.WaitGroup
	do := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	if slot && t.UserID != 0 && (t.Counted || b.opt.MaxActive > 0 || b.opt.DailyLimit > 0) {
		do(func() {
			if err := b.unreserve(ctx, t.UserID, t.UpdateID, false); err != nil {
				d.log.Warn("could not free the user's slot; it frees itself after the deadline", "err", err)
			}
		})
	}
	if t.Hold != "" && d.kept {
		do(func() {
			if err := b.settle(ctx, t.UserID, t.Hold); err != nil {
				d.log.Warn("could not settle the price held; the hold is dropped in a week, kept", "err", err)
			}
		})
	}
	do(func() {
		if err := b.store.Delete(ctx, taskKey(d.o.ID)); err != nil {
			d.log.Warn("could not delete the task; the lifecycle rule will", "err", err)
		}
	})
	if t.Image != "" {
		do(func() {
			if err := b.store.Delete(ctx, t.Image); err != nil {
				d.log.Warn("could not delete the photo; the lifecycle rule will", "err", err)
			}
		})
	}
	wg.Wait()
}

// send tells the user how the prediction ended: the result (with Again
// and Other effects under it), or in plain words why there is none; and
// the prediction's status, when it has one, says it is over.
func (d *delivery) send(ctx context.Context) error {
	w, o, e := d.w, d.o, d.effect()
	title, buttons := e.Title.In(w.lang), d.buttons()
	if o.Status != Succeeded || len(o.Files) == 0 && o.Text == "" {
		d.startSettled(ctx)
		if err := d.giveBack(ctx); err != nil {
			return err
		}
		return d.failure(ctx, withNote(d.outcomeText(), "\n", d.returned), buttons)
	}
	// The status changes while the result travels: nothing waits for it.
	status := make(chan struct{})
	go func() {
		defer close(status)
		d.startSettled(ctx)
		switch {
		case d.task.StatusMessage == 0:
		case d.task.StatusButtons: // the older result: its buttons move to the new one
			d.edit(ctx, &Reply{ChatID: d.task.ChatID, Edit: d.task.StatusMessage, ButtonsOnly: true})
		default:
			d.edit(ctx, &Reply{ChatID: d.task.ChatID, Edit: d.task.StatusMessage, Text: w.done(title, o.Took)})
		}
	}()
	defer func() { <-status }()
	if len(o.Files) == 0 {
		err := d.text(ctx, shorten(o.Text, 4096), buttons)
		d.kept = err == nil
		return err
	}
	err := d.b.chat.SendResult(ctx, &Result{ChatID: d.task.ChatID, ReplyTo: d.task.MessageID, Files: o.Files,
		As: e.Send, Caption: d.caption(title), Name: e.ID, Buttons: buttons})
	d.kept = err == nil
	if errors.Is(err, ErrFileGone) || errors.Is(err, ErrConfig) {
		// The file itself was refused or is gone: say so rather than nothing.
		d.log.Warn("result refused by Telegram", "err", err)
		d.undelivered = true
		if err := d.giveBack(ctx); err != nil {
			return err
		}
		return d.text(ctx, withNote(w.Undeliverable, "\n", d.returned), buttons)
	}
	return err
}

// failure tells why there is no result: in the status when there is one
// (a text, with the buttons to try again), else in a message.
func (d *delivery) failure(ctx context.Context, text string, buttons [][]Button) error {
	t := d.task
	switch {
	case t.StatusMessage != 0 && !t.StatusButtons:
		err := d.edit(ctx, &Reply{ChatID: t.ChatID, Edit: t.StatusMessage, Text: text, Buttons: buttons})
		if err == nil || !hopeless(err) {
			return err
		}
		// The status is gone (deleted by the user): a message, then.
	case t.StatusMessage != 0:
		// The result whose Again was pressed gets its buttons back.
		d.edit(ctx, &Reply{ChatID: t.ChatID, Edit: t.StatusMessage, ButtonsOnly: true, Buttons: buttons})
		return d.text(ctx, text, nil)
	}
	return d.text(ctx, text, buttons)
}

// edit changes one of the bot's messages; a failure is the status's, not
// the result's: logged, and reported to failure, which has no other way.
func (d *delivery) edit(ctx context.Context, r *Reply) error {
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	err := d.b.chat.Send(ctx, r)
	if err != nil {
		d.log.Info("the status was not updated", "err", err)
	}
	return err
}

// effect is the task's effect; the first one for tasks of a bot that has
// since changed its effects.
func (d *delivery) effect() *Effect {
	if e := d.b.effect[d.task.Effect]; e != nil {
		return e
	}
	return &d.b.opt.Effects[0]
}

func (d *delivery) text(ctx context.Context, text string, buttons [][]Button) error {
	ctx, cancel := d.b.call(ctx)
	defer cancel()
	return d.b.chat.Send(ctx, &Reply{ChatID: d.task.ChatID, Text: text, ReplyTo: d.task.MessageID, Buttons: buttons})
}

// hopeless: a send that no retry can mend.
func hopeless(err error) bool {
	return errors.Is(err, ErrGone) || errors.Is(err, ErrConfig) || errors.Is(err, ErrFileGone)
}
