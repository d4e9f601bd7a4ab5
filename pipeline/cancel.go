package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// cancel is a press of Cancel: the prediction is marked canceled (so that
// no result is sent even if the model finishes), stopped at Replicate, the
// user's slot freed, and the status says so.
func (b *Bot) cancel(ctx context.Context, p *Press, x button, w *words, answer func(string, bool), log *slog.Logger) (*Response, error) {
	started := button{act: x.of, effect: x.effect}
	claim, ok := b.readLease(ctx, choiceKey(p.ChatID, p.MessageID, started.choice()))
	id := claim.PredictionID
	switch {
	case !ok || claim.State != stateWorking && !validPredictionID(id):
		answer(w.NothingToCancel, false)
		return nil, nil
	case !validPredictionID(id):
		answer(w.StillStarting, false) // the prediction is being made
		return nil, nil
	}
	log = log.With("prediction_id", id)
	task, err := b.loadTask(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		// Delivered or canceled already (its delivery says so), or its
		// task is still being saved.
		if _, ended := b.readLease(ctx, deliveryKey(id)); !ended && claim.At > b.now().Add(-b.leaseTTL()).UnixMilli() {
			answer(w.StillStarting, false)
		} else {
			answer(w.NothingToCancel, false)
		}
		return nil, nil
	case err != nil:
		log.Warn("cannot read the task to cancel", "err", err)
		answer(w.BusyPress, true)
		return nil, nil
	case task.UserID != p.From.ID && !b.opt.Admins.Has(&p.From):
		answer(w.NotYours, true)
		return nil, nil
	}
	rec, _ := json.Marshal(leaseRecord{State: stateCanceled, At: b.now().UnixMilli(), PredictionID: id})
	cctx, cancel := b.call(ctx)
	_, err = b.store.Create(cctx, deliveryKey(id), rec)
	cancel()
	switch {
	case errors.Is(err, ErrExists):
		answer(w.NothingToCancel, false) // its result is being sent
		return nil, nil
	case err != nil:
		log.Warn("cannot mark the prediction canceled", "err", err)
		answer(w.BusyPress, true)
		return nil, nil
	}
	answer(w.Canceling, false)
	cctx, cancel = b.call(ctx)
	if err := b.models.Cancel(cctx, id); err != nil {
		log.Warn("Replicate did not take the cancel; no result will be sent anyway", "err", err)
	}
	cancel()
	d := &delivery{b: b, o: &Outcome{ID: id, Status: Canceled}, task: task, w: b.wordsFor(task.Language), log: log}
	d.forget(ctx, true)
	log.Info("canceled by the user")
	e := d.effect()
	if task.StatusButtons {
		return &Response{Reply: &Reply{ChatID: task.ChatID, Edit: task.Status, ButtonsOnly: true, Buttons: b.effectButtons(d.w, e)}}, nil
	}
	return &Response{Reply: &Reply{ChatID: task.ChatID, Edit: p.MessageID,
		Text: fmt.Sprintf(d.w.CanceledStatus, e.Title.In(d.w.lang)), Buttons: b.effectButtons(d.w, e)}}, nil
}
