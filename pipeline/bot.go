package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// Bot holds what both halves of the pipeline need. Its fields are set once
// at start; a Bot is safe for concurrent use and keeps no state of its own
// between calls: everything lives in Store.
type Bot struct {
	Store     Store
	Images    ImageStore
	Telegram  *telegram.Client
	Replicate *replicate.Client
	Log       *slog.Logger

	Model      replicate.Model
	Input      map[string]any // REPLICATE_INPUT: defaults for every prediction
	ImageField string         // the model input that receives the photo URL
	// PromptField, when set, is the model input that receives the photo's
	// caption.
	PromptField string
	// PredictionDeadline: Replicate cancels a prediction that runs longer
	// (Cancel-After), so a stuck model cannot burn money. Default 10 min.
	PredictionDeadline time.Duration

	// Allowed, when not nil, are the only users served (ALLOWED_USERS).
	Allowed *Users
	// Admins are exempt from the limits below (ADMIN_USERS).
	Admins *Users
	// MaxActive bounds a user's predictions in flight; DailyLimit their
	// predictions per UTC day. 0 means unlimited.
	MaxActive  int
	DailyLimit int
	// WebhookURL is where Replicate posts the result; empty when the
	// prediction is polled instead (photobot run).
	WebhookURL string

	// Watch, when set, is called with every prediction that was created
	// and saved; photobot run uses it to poll the prediction.
	Watch func(predictionID string)

	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// CallTimeout bounds each outbound call that moves no file: S3 reads
	// and writes of small objects, getFile, creating a prediction, sending
	// a message (default 10 s). Transfers of photos are bounded by the
	// webhook's Deadline.
	CallTimeout time.Duration
	// Deadline bounds the handling of one webhook (default 20 s), so that
	// it answers, 5xx if need be, well before Telegram gives up (about
	// 60 s) or the function is killed (30 s): bookkeeping after a failure
	// has 4 s more of its own.
	Deadline time.Duration
}

// DefaultDeadline is the default of Bot.Deadline.
const DefaultDeadline = 20 * time.Second

// WebhookDeadline is how long one webhook may take.
func (b *Bot) WebhookDeadline() time.Duration {
	if b.Deadline > 0 {
		return b.Deadline
	}
	return DefaultDeadline
}

// call gives one outbound call its timeout.
func (b *Bot) call(ctx context.Context) (context.Context, context.CancelFunc) {
	d := b.CallTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// Task is the state between the two halves: tasks/{prediction_id}.json.
type Task struct {
	ChatID    int64  `json:"chat_id"`
	FileID    string `json:"file_id"`
	Timestamp int64  `json:"timestamp"`            // when the task was created, unix seconds
	MessageID int    `json:"message_id,omitempty"` // the user's photo, to reply to
	UpdateID  int64  `json:"update_id,omitempty"`
	UserID    int64  `json:"user_id,omitempty"`
	Language  string `json:"language,omitempty"` // the user's language_code
	Image     string `json:"image,omitempty"`    // key of the stored photo
}

// Keys of the bucket. The lifecycle rules (see LifecycleRules) expire every
// prefix, so nothing here needs a sweeper.
func taskKey(predictionID string) string     { return "tasks/" + predictionID + ".json" }
func updateKey(updateID int64) string        { return "updates/" + strconv.FormatInt(updateID, 10) + ".json" }
func deliveryKey(predictionID string) string { return "deliveries/" + predictionID + ".json" }

// LifecycleRule expires the objects under Prefix after Days.
type LifecycleRule struct {
	ID     string
	Prefix string
	Days   int32
}

// LifecycleRules are the bucket's expiry rules, put by photobot setup.
var LifecycleRules = []LifecycleRule{
	{ID: "photobot-tasks", Prefix: "tasks/", Days: 1},
	{ID: "photobot-updates", Prefix: "updates/", Days: 2},
	{ID: "photobot-deliveries", Prefix: "deliveries/", Days: 2},
	{ID: "photobot-images", Prefix: "images/", Days: 1},
	{ID: "photobot-albums", Prefix: "albums/", Days: 1},
	{ID: "photobot-users", Prefix: "users/", Days: 2},
	{ID: "photobot-setup", Prefix: "setup/", Days: 1},
}

// Errors the transports map to answers.
var (
	// ErrInProgress: another delivery of the same update or prediction is
	// being handled right now; ask the sender to retry later.
	ErrInProgress = errors.New("being handled by another request")
	// ErrUnknownPrediction: no task for this prediction (yet). Replicate
	// retries, which covers a webhook that overtook the task's write.
	ErrUnknownPrediction = errors.New("no task for this prediction")
	// ErrInvalidPrediction: the webhook's prediction id is not a Replicate id.
	ErrInvalidPrediction = errors.New("invalid prediction id")
)

func (b *Bot) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// A lease is a claim on a piece of work (one update, one delivery), held in
// the bucket. It is created with If-None-Match, so only one request wins;
// it can be taken over with If-Match once it is stale, so a request that
// crashed while holding it does not block the work forever.
type lease struct {
	key  string
	etag string
}

type leaseRecord struct {
	State        string `json:"state"` // "working" or "done"
	At           int64  `json:"at"`    // when taken, unix milliseconds
	PredictionID string `json:"prediction_id,omitempty"`
}

var errDone = errors.New("already done")

// acquire takes the lease at key. It returns errDone when the work was
// finished by someone else, ErrInProgress when someone holds a fresh lease.
// done, when not nil, double-checks a record that says "done": it reports
// false when the work it names did not stick, and such a record is then
// treated like a lease (taken over once stale).
func (b *Bot) acquire(ctx context.Context, key string, ttl time.Duration, done func(context.Context, leaseRecord) bool) (*lease, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	rec, _ := json.Marshal(leaseRecord{State: "working", At: b.now().UnixMilli()})
	for attempt := 0; attempt < 2; attempt++ {
		etag, err := b.Store.Create(ctx, key, rec)
		if err == nil {
			return &lease{key: key, etag: etag}, nil
		}
		if !errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("claiming %s: %w", key, err)
		}
		data, etag, err := b.Store.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return nil, fmt.Errorf("reading claim %s: %w", key, err)
		}
		var cur leaseRecord
		if json.Unmarshal(data, &cur) != nil {
			cur = leaseRecord{State: "working"} // unreadable: treat as stale
		}
		if cur.State == "done" && (done == nil || done(ctx, cur)) {
			return nil, errDone
		}
		if b.now().Sub(time.UnixMilli(cur.At)) < ttl {
			return nil, ErrInProgress
		}
		etag, err = b.Store.Replace(ctx, key, rec, etag)
		if errors.Is(err, ErrConflict) {
			return nil, ErrInProgress
		}
		if err != nil {
			return nil, fmt.Errorf("taking over claim %s: %w", key, err)
		}
		b.Log.Warn("took over a stale claim", "key", key)
		return &lease{key: key, etag: etag}, nil
	}
	return nil, ErrInProgress
}

// finish marks the leased work done, for good.
func (b *Bot) finish(ctx context.Context, l *lease, predictionID string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	rec, _ := json.Marshal(leaseRecord{State: "done", At: b.now().UnixMilli(), PredictionID: predictionID})
	if err := b.Store.Put(ctx, l.key, bytes.NewReader(rec), int64(len(rec)), "application/json"); err != nil {
		return fmt.Errorf("marking %s done: %w", l.key, err)
	}
	return nil
}

// release gives the lease up so that a retry can take the work at once.
func (b *Bot) release(ctx context.Context, l *lease) {
	if err := b.Store.Delete(ctx, l.key); err != nil {
		b.Log.Warn("could not release claim; a retry will take it over when stale", "key", l.key, "err", err)
	}
}

// cleanup gives bookkeeping that must outlive a canceled request its own
// short deadline.
func cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 4*time.Second)
}

func (b *Bot) saveTask(ctx context.Context, predictionID string, t Task) error {
	data, _ := json.Marshal(t)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		cctx, cancel := b.call(ctx)
		err = b.Store.Put(cctx, taskKey(predictionID), bytes.NewReader(data), int64(len(data)), "application/json")
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("saving task: %w", err)
	}
	return nil
}

func (b *Bot) loadTask(ctx context.Context, predictionID string) (*Task, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.Store.Get(ctx, taskKey(predictionID))
	if err != nil {
		return nil, err
	}
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("task %s is corrupt: %w", predictionID, err)
	}
	return &t, nil
}
