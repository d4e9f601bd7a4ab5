// Package longpoll runs photobot without a public URL: it takes updates
// from Telegram's getUpdates and polls each prediction until it is done,
// then hands both to the same core as the webhooks do.
package longpoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/photobot/photobot/internal/retry"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// Runner is the long-polling transport.
type Runner struct {
	Bot       *pipeline.Bot
	Telegram  *telegram.Client
	Replicate *replicate.Client
	Log       *slog.Logger

	// PollTimeout is getUpdates' long-poll wait (default 30 s).
	PollTimeout time.Duration
	// Interval is the first wait between two reads of a running
	// prediction (default 1 s); it grows to 5 s.
	Interval time.Duration
	// Parallel bounds how many updates of one batch are handled at once.
	Parallel int
	// Drain bounds how long Run, once ctx ends, lets the predictions it
	// follows finish and be delivered (default 20 s); the next Run
	// resumes the rest from Tasks.
	Drain time.Duration
	// Tasks, when set, lists the predictions whose tasks are in the
	// store: Run follows them again when it starts, as it would have had
	// it not stopped (a SIGTERM past Drain, a crash).
	Tasks Pending
}

// Pending lists the prediction ids of the tasks in the store
// (localstore.Store has it; a bucket is not listed).
type Pending interface {
	Pending(ctx context.Context) ([]string, error)
}

// ErrWebhookSet: Telegram refuses getUpdates while a webhook is set.
var ErrWebhookSet = errors.New("a webhook is set for this bot")

// Run polls until ctx is canceled, then waits for the work in flight.
func (r *Runner) Run(ctx context.Context) error {
	r.defaults()
	// The followers outlive ctx by up to Drain: a result a stop would
	// otherwise orphan (billed, never sent) is sent first.
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var following sync.WaitGroup
	defer r.drain(stop, &following)
	followOn := func(id string, progress bool) {
		following.Add(1)
		go func() {
			defer following.Done()
			r.follow(fctx, id, progress)
		}()
	}
	if err := r.checkWebhook(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: a clean stop
		}
		return err
	}
	r.resume(ctx, followOn)
	r.Log.Info("polling Telegram for updates")
	return r.poll(ctx, followOn)
}

func (r *Runner) defaults() {
	if r.PollTimeout == 0 {
		r.PollTimeout = 30 * time.Second
	}
	if r.Interval == 0 {
		r.Interval = time.Second
	}
	if r.Parallel == 0 {
		r.Parallel = 8
	}
	if r.Drain == 0 {
		r.Drain = 20 * time.Second
	}
}

// checkWebhook refuses to poll while the bot has a webhook: Telegram would
// refuse getUpdates.
func (r *Runner) checkWebhook(ctx context.Context) error {
	info, err := r.Telegram.GetWebhookInfo(ctx)
	if err != nil {
		return fmt.Errorf("checking the bot's webhook: %w", err)
	}
	if info.URL != "" {
		return fmt.Errorf("%w (%s): long polling cannot work while it is; "+
			"`photobot run --drop-webhook` deletes it (pending updates are kept; `photobot setup` sets it again)", ErrWebhookSet, info.URL)
	}
	return nil
}

// poll asks for updates until ctx ends, and hands each batch to the core.
// An empty poll is no failure; a failed one backs off (or waits as long as
// flood control says).
func (r *Runner) poll(ctx context.Context, followOn func(id string, progress bool)) error {
	var offset int64
	wait := time.Duration(0)
	for ctx.Err() == nil {
		if !retry.Sleep(ctx, wait) {
			break
		}
		updates, err := r.Telegram.GetUpdates(ctx, offset, r.PollTimeout, telegram.AllowedUpdates)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var te *telegram.Error
			if errors.As(err, &te) && te.Code == 409 {
				return fmt.Errorf("telegram refuses getUpdates: %s (is another instance polling, or a webhook set?)", te.Desc)
			}
			if telegram.IsPermanent(err) {
				return err
			}
			wait = min(max(2*wait, 500*time.Millisecond), 30*time.Second)
			if te != nil && te.RetryAfter > 0 {
				wait = te.RetryAfter // flood control says when
			}
			r.Log.Warn("getUpdates failed; retrying", "err", err, "wait", wait.String())
			continue
		}
		wait = 0
		if len(updates) > 0 {
			offset = r.handleBatch(ctx, updates, followOn)
		}
	}
	return nil
}

// handleBatch handles a batch of updates, Parallel at a time, and returns
// the next offset. Telegram forgets updates below it: so it is asked for
// only once all of this batch is handled.
func (r *Runner) handleBatch(ctx context.Context, updates []*pipeline.Update, followOn func(id string, progress bool)) int64 {
	sem := make(chan struct{}, r.Parallel)
	var batch sync.WaitGroup
	for _, u := range updates {
		batch.Add(1)
		sem <- struct{}{}
		go func(u *pipeline.Update) {
			defer func() { <-sem; batch.Done() }()
			if id, progress := r.handle(ctx, u); id != "" {
				followOn(id, progress)
			}
		}(u)
	}
	batch.Wait()
	return updates[len(updates)-1].ID + 1
}

// resume follows the predictions of the tasks a stopped Run left.
func (r *Runner) resume(ctx context.Context, follow func(id string, progress bool)) {
	if r.Tasks == nil {
		return
	}
	ids, err := r.Tasks.Pending(ctx)
	if err != nil {
		r.Log.Error("cannot list the tasks left by an earlier run; their results will not be sent", "err", err)
		return
	}
	for _, id := range ids {
		follow(id, false) // its status was told when it started
	}
	if len(ids) > 0 {
		r.Log.Info("following the predictions an earlier run left", "count", len(ids))
	}
}

// drain waits up to Drain for the followers, then stops them.
func (r *Runner) drain(stop context.CancelFunc, following *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		following.Wait()
		close(done)
	}()
	t := time.NewTimer(r.Drain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.Log.Warn("stopping with predictions still running; the next run resumes them", "waited", r.Drain.String())
	}
	stop()
	<-done
}

// handle runs one update until it no longer fails transiently, like
// Telegram's redelivery of a webhook, then sends the reply. It returns the
// prediction to follow, if one was started, and whether its start is
// told (the effect's progress).
func (r *Runner) handle(ctx context.Context, u *pipeline.Update) (started string, progress bool) {
	wait := r.Interval
	for {
		// An attempt under way when ctx ends runs to its end, as a
		// webhook's request would: a prediction it starts is followed.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Bot.Deadline())
		resp, err := r.Bot.HandleUpdate(hctx, u)
		if err == nil && resp != nil {
			started, progress = resp.PredictionID, resp.Progress
			if resp.Reply != nil {
				if err := r.Telegram.Send(hctx, resp.Reply); err != nil {
					// As a webhook's answer would be: not retried.
					r.Log.Warn("reply not sent", "update_id", u.ID, "err", err)
				}
			}
		}
		cancel()
		if err == nil || ctx.Err() != nil {
			return started, progress
		}
		r.Log.Warn("update failed; retrying", "update_id", u.ID, "err", err, "wait", wait.String())
		if !retry.Sleep(ctx, wait) {
			return "", false
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// follow polls a prediction until it ends, then delivers it. With
// progress, the first poll that sees it processing is told to the bot
// once, as Replicate's start event would be (run has no webhooks).
func (r *Runner) follow(ctx context.Context, id string, progress bool) {
	wait := r.Interval
	for {
		if !retry.Sleep(ctx, wait) {
			return
		}
		wait = min(wait+wait/2, 5*time.Second)
		gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		p, err := r.Replicate.Get(gctx, id)
		cancel()
		if err != nil {
			if replicate.IsPermanent(err) {
				r.Log.Error("cannot follow prediction", "prediction_id", id, "err", err)
				return
			}
			r.Log.Warn("reading prediction failed; retrying", "prediction_id", id, "err", err)
			continue
		}
		if !p.Terminal() {
			if progress && p.Status == pipeline.Processing {
				progress = false
				r.tellStarted(ctx, p)
			}
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, r.Bot.Deadline())
		err = r.Bot.HandlePrediction(hctx, p.Outcome())
		cancel()
		if err == nil {
			return
		}
		r.Log.Warn("delivery failed; retrying", "prediction_id", id, "err", err)
	}
}

// tellStarted tells the bot a prediction's model runs.
func (r *Runner) tellStarted(ctx context.Context, p *replicate.Prediction) {
	hctx, cancel := context.WithTimeout(ctx, r.Bot.Deadline())
	defer cancel()
	if err := r.Bot.HandlePrediction(hctx, p.Outcome()); err != nil {
		r.Log.Info("start not told", "prediction_id", p.ID, "err", err)
	}
}
