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

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// Runner is the long-polling transport.
type Runner struct {
	Bot *pipeline.Bot
	Log *slog.Logger

	// PollTimeout is getUpdates' long-poll wait (default 30 s).
	PollTimeout time.Duration
	// Interval is the first wait between two reads of a running
	// prediction (default 1 s); it grows to 5 s.
	Interval time.Duration
	// Parallel bounds how many updates of one batch are handled at once.
	Parallel int

	ctx context.Context
	wg  sync.WaitGroup
}

// ErrWebhookSet: Telegram refuses getUpdates while a webhook is set.
var ErrWebhookSet = errors.New("a webhook is set for this bot")

// Run polls until ctx is canceled, then waits for the work in flight.
func (r *Runner) Run(ctx context.Context) error {
	if r.PollTimeout == 0 {
		r.PollTimeout = 30 * time.Second
	}
	if r.Interval == 0 {
		r.Interval = time.Second
	}
	if r.Parallel == 0 {
		r.Parallel = 8
	}
	r.ctx = ctx
	r.Bot.Watch = r.follow
	defer r.wg.Wait()

	info, err := r.Bot.Telegram.GetWebhookInfo(ctx)
	if err != nil {
		return fmt.Errorf("checking the bot's webhook: %w", err)
	}
	if info.URL != "" {
		return fmt.Errorf("%w (%s): long polling cannot work while it is. "+
			"Remove it with: curl \"https://api.telegram.org/bot$TG_BOT_TOKEN/deleteWebhook\" "+
			"(pending updates are kept); `photobot setup` sets it again", ErrWebhookSet, info.URL)
	}
	r.Log.Info("polling Telegram for updates", "model", r.Bot.Model.String())

	var offset int64
	wait := time.Duration(0)
	for ctx.Err() == nil {
		if !sleep(ctx, wait) {
			break
		}
		updates, err := r.Bot.Telegram.GetUpdates(ctx, offset, r.PollTimeout, []string{"message"})
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
			r.Log.Warn("getUpdates failed; retrying", "err", err, "wait", wait.String())
			continue
		}
		wait = 0
		sem := make(chan struct{}, r.Parallel)
		var batch sync.WaitGroup
		for _, u := range updates {
			batch.Add(1)
			sem <- struct{}{}
			go func(u *models.Update) {
				defer func() { <-sem; batch.Done() }()
				r.handle(ctx, u.ID, func(ctx context.Context) (*pipeline.Reply, error) { return r.Bot.HandleUpdate(ctx, u) })
			}(u)
			offset = u.ID + 1
		}
		// Telegram forgets updates below the next offset: only ask for it
		// once all of this batch is handled.
		batch.Wait()
	}
	return nil
}

// handle runs one update until it no longer fails transiently, like
// Telegram's redelivery of a webhook, then sends the reply.
func (r *Runner) handle(ctx context.Context, updateID int64, run func(context.Context) (*pipeline.Reply, error)) {
	wait := r.Interval
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		reply, err := run(hctx)
		if err == nil && reply != nil {
			err = r.Bot.Telegram.SendMessage(hctx, &bot.SendMessageParams{ChatID: reply.ChatID, Text: reply.Text,
				ReplyParameters: telegram.ReplyTo(reply.ReplyTo)})
			if telegram.IsPermanent(err) {
				r.Log.Warn("reply not sent", "update_id", updateID, "err", err)
				err = nil
			}
			reply = nil
		}
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		r.Log.Warn("update failed; retrying", "update_id", updateID, "err", err, "wait", wait.String())
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// follow polls a prediction until it ends, then delivers it.
func (r *Runner) follow(id string) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx := r.ctx
		wait := r.Interval
		for {
			if !sleep(ctx, wait) {
				return
			}
			wait = min(wait+wait/2, 5*time.Second)
			gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			p, err := r.Bot.Replicate.Get(gctx, id)
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
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = r.Bot.HandlePrediction(hctx, p)
			cancel()
			if err == nil {
				return
			}
			r.Log.Warn("delivery failed; retrying", "prediction_id", id, "err", err)
		}
	}()
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
