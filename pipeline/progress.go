package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Progress. A model that cold-boots can sit minutes in "starting". An
// effect with Progress says so: its status reads "waiting for the model"
// from the start, and its predictions also send Replicate's start event,
// which Cog sends as the model takes the prediction (status processing):
// the status then reads "processing (0:42)", the time since it was asked.
// The result changes it as for any effect.
//
// A start event is verified like any webhook (by the transport) and
// claimed (startKey): one edit per start, however often it comes. It
// changes nothing when the prediction is delivered already, or being
// delivered: the delivery takes the same claim before it changes the
// status, so the two edits cannot cross (a start that holds the claim is
// waited for briefly). Nothing waits for a start that never comes.

// statusText is what the status says before the model runs.
func (j *job) statusText() string {
	title := j.effect.Title.In(j.w.lang)
	text := fmt.Sprintf(j.w.Processing, title)
	if j.effect.Progress {
		text = fmt.Sprintf(j.w.Waiting, title)
	}
	return withNote(text, "\n", j.note) // what it cost
}

// cancelData is the data of the Cancel button of the job's status.
func (j *job) cancelData() string {
	switch {
	case j.reply != nil:
		return button{act: actCancel, of: actReply, effect: j.effect.ID, reply: j.reply.ID}.String()
	case j.press != nil:
		return button{act: actCancel, of: j.started.act, effect: j.started.effect}.String()
	}
	return ""
}

// postStatus posts the status of a job a reply started, or a photo of an
// effect with progress (instead of "accepted", which has no id to edit),
// before the prediction exists (as a press's status is shown), so that it
// can never come after the result. It replies to the photo, as a menu
// does: the buttons it gets at the end find the photo by it. A photo's
// job has no Cancel (its claim is the update's, which no button names).
func (j *job) postStatus(ctx context.Context) {
	cctx, cancel := j.b.call(ctx)
	defer cancel()
	r := &Reply{ChatID: j.photo.ChatID, Text: j.statusText(), ReplyTo: j.photo.ID}
	if data := j.cancelData(); data != "" {
		r.Buttons = [][]Button{{{Text: j.w.ButtonCancel, Data: data}}}
	}
	id, err := j.b.chat.Post(cctx, r)
	if err != nil {
		j.log.Info("the status was not shown", "err", err)
		return
	}
	j.posted = id
}

// statusRetried changes a posted status whose job failed for now:
// Telegram delivers the update again, and the retry posts its own.
func (j *job) statusRetried(ctx context.Context) {
	if j.posted == 0 {
		return
	}
	cctx, cancel := j.b.call(ctx)
	defer cancel()
	err := j.b.chat.Send(cctx, &Reply{ChatID: j.photo.ChatID, Edit: j.posted,
		Text: fmt.Sprintf(j.w.Retrying, j.effect.Title.In(j.w.lang))})
	if err != nil {
		j.log.Info("the status was not updated", "err", err)
	}
}

// progressTask records the status in the task: a replied job's posted
// status, and the Cancel that a start's edit keeps.
func (j *job) progressTask(t *Task) {
	if j.posted != 0 {
		t.StatusMessage, t.StatusButtons = j.posted, false
	}
	if j.effect.Progress {
		t.Cancel = j.cancelData()
	}
}

// startWait bounds how long a delivery waits for a start's edit that
// holds the claim.
const startWait = 3 * time.Second

// started is a prediction's start event (or a poll that saw it
// processing): the status of an effect with Progress says the model runs.
// It returns nil whatever happens: a start is not worth a retry.
func (b *Bot) started(ctx context.Context, o *Outcome) error {
	if o.Status != Processing {
		return nil // still starting: the status already says it waits
	}
	task, err := b.loadTask(ctx, o.ID)
	if err != nil {
		return nil // delivered already, not saved yet, or unreadable
	}
	e := b.effect[task.Effect]
	if e == nil || !e.Progress || task.StatusMessage == 0 || task.StatusButtons {
		return nil // no text to change
	}
	log := b.log.With("prediction_id", o.ID, "chat_id", task.ChatID)
	l, err := b.acquire(ctx, startKey(o.ID), nil)
	if err != nil {
		log.Info("start event ignored", "err", err) // a duplicate, or the result came first
		return nil
	}
	if _, delivering := b.readLease(ctx, deliveryKey(o.ID)); delivering {
		log.Info("start event after the result ignored")
	} else {
		w := b.wordsFor(task.Language)
		r := &Reply{ChatID: task.ChatID, Edit: task.StatusMessage,
			Text: fmt.Sprintf(w.Running, e.Title.In(w.lang), elapsed(time.Duration(b.now().Unix()-task.Timestamp)*time.Second))}
		if task.Cancel != "" {
			r.Buttons = [][]Button{{{Text: w.ButtonCancel, Data: task.Cancel}}}
		}
		cctx, cancel := b.call(ctx)
		if err := b.chat.Send(cctx, r); err != nil {
			log.Info("the status was not updated", "err", err)
		}
		cancel()
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := b.finish(cctx, l.key, stateDone, o.ID); err != nil {
		log.Warn("start not marked done; a delivery waits for it a little", "err", err)
	}
	return nil
}

// startSettled takes the start's claim for the delivery, so that no start
// changes the status after the result: a start that holds it (editing the
// status right now) is waited for, up to startWait.
func (d *delivery) startSettled(ctx context.Context) {
	if !d.effect().Progress || d.task.StatusMessage == 0 || d.task.StatusButtons {
		return
	}
	deadline := time.Now().Add(startWait)
	for {
		_, err := d.b.acquire(ctx, startKey(d.o.ID), nil)
		if !errors.Is(err, ErrInProgress) || time.Now().After(deadline) || !sleep(ctx, 100*time.Millisecond) {
			return // ours (never released: no start edits after this), done, or not worth more waiting
		}
	}
}

// elapsed says a duration as m:ss.
func elapsed(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
