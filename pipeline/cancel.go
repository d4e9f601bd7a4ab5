package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// pressed is a press being handled: the press, the presser's words, and
// how to answer it.
type pressed struct {
	*Press
	w      *words
	answer func(text string, alert bool)
	log    *slog.Logger
}

// cancel is a press of Cancel x: the prediction is marked canceled (so that
// no result is sent even if the model finishes), stopped at Replicate, the
// user's slot freed, and the status says so.
func (b *Bot) cancel(ctx context.Context, p *pressed, x button) (*Response, error) {
	claim, ok := b.cancelable(ctx, p, button{act: x.of, effect: x.effect, reply: x.reply})
	if !ok {
		return nil, nil
	}
	id := claim.PredictionID
	log := p.log.With("prediction_id", id)
	task, ok := b.cancelersTask(ctx, p, claim, log)
	if !ok {
		return nil, nil
	}
	rec, _ := json.Marshal(leaseRecord{State: stateCanceled, At: b.now().UnixMilli(), PredictionID: id})
	cctx, cancel := b.call(ctx)
	_, err := b.store.Create(cctx, deliveryKey(id), rec)
	cancel()
	switch {
	case errors.Is(err, ErrExists):
		p.answer(p.w.NothingToCancel, false) // its result is being sent
		return nil, nil
	case err != nil:
		log.Warn("cannot mark the prediction canceled", "err", err)
		p.answer(p.w.BusyPress, true)
		return nil, nil
	}
	// No result will come: the price goes back at once.
	d := &delivery{b: b, o: &Outcome{ID: id, Status: Canceled}, task: task, w: b.wordsFor(task.Language), log: log}
	if err := d.giveBack(ctx); err != nil {
		log.Error("the price of a canceled prediction was not given back", "err", err)
	}
	p.answer(withNote(p.w.Canceling, " ", d.returned), false)
	cctx, cancel = b.call(ctx)
	if err := b.models.Cancel(cctx, id); err != nil {
		log.Warn("Replicate did not take the cancel; no result will be sent anyway", "err", err)
	}
	cancel()
	d.forget(ctx, true)
	b.count(ctx, &Event{User: task.UserID, Effect: d.effect().ID, Outcome: CanceledByUser, Spend: d.effect().Cost})
	log.Info("canceled by the user")
	return &Response{Reply: d.canceledStatus(p.MessageID)}, nil
}

// cancelable finds the prediction the button started pressed, by its
// claim; when there is none (yet), the presser is told.
func (b *Bot) cancelable(ctx context.Context, p *pressed, started button) (leaseRecord, bool) {
	message := p.MessageID
	if started.act == actReply {
		message = started.reply // a reply's claim is keyed by the reply
	}
	claim, found := b.readLease(ctx, choiceKey(p.ChatID, message, started.choice()))
	switch id := claim.PredictionID; {
	case !found || claim.State != stateWorking && !validPredictionID(id):
		p.answer(p.w.NothingToCancel, false)
		return claim, false
	case !validPredictionID(id):
		p.answer(p.w.StillStarting, false) // the prediction is being made
		return claim, false
	}
	return claim, true
}

// cancelersTask reads the claim's prediction's task, and whether the
// presser may cancel it: who started it, or an admin.
func (b *Bot) cancelersTask(ctx context.Context, p *pressed, claim leaseRecord, log *slog.Logger) (*Task, bool) {
	id := claim.PredictionID
	task, err := b.loadTask(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		// Delivered or canceled already (its delivery says so), or its
		// task is still being saved.
		if _, ended := b.readLease(ctx, deliveryKey(id)); !ended && claim.At > b.now().Add(-b.leaseTTL()).UnixMilli() {
			p.answer(p.w.StillStarting, false)
		} else {
			p.answer(p.w.NothingToCancel, false)
		}
		return nil, false
	case err != nil:
		log.Warn("cannot read the task to cancel", "err", err)
		p.answer(p.w.BusyPress, true)
		return nil, false
	case task.UserID != p.From.ID && !b.opt.Admins.Has(&p.From):
		p.answer(p.w.NotYours, true)
		return nil, false
	}
	return task, true
}

// canceledStatus is the pressed message once its prediction is canceled:
// the effect's buttons back (a result), or "canceled" with them (a text).
func (d *delivery) canceledStatus(pressedMessage int) *Reply {
	t, e := d.task, d.effect()
	buttons := d.buttons()
	if t.StatusButtons {
		return &Reply{ChatID: t.ChatID, Edit: t.StatusMessage, ButtonsOnly: true, Buttons: buttons}
	}
	text := withNote(fmt.Sprintf(d.w.CanceledStatus, e.Title.In(d.w.lang)), "\n", d.returned)
	return &Reply{ChatID: t.ChatID, Edit: pressedMessage, Text: text, Buttons: buttons}
}
