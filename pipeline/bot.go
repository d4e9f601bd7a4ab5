package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"
)

// Bot is the core: what happens to a photo (intake.go) and to its result
// (delivery.go). It is built once by New, never changed afterwards, and
// safe for concurrent use; it keeps no state of its own between calls:
// everything lives in the Store.
type Bot struct {
	store  Store
	images ImageStore
	chat   Chat
	models Models
	pay    Payments // nil when payments are off
	log    *slog.Logger
	opt    Options
	effect map[string]*Effect
	words  map[string]*words // by language: "ru", "en"
	ledger Ledger            // nil: nothing counted, no /stats
	alerts *alerted
}

// Deps are the ports a Bot talks through.
type Deps struct {
	Store  Store
	Images ImageStore
	Chat   Chat
	Models Models
	// Payments is nil when payments are off.
	Payments Payments
	// Ledger counts for /stats; nil for none.
	Ledger Ledger
	Log    *slog.Logger
}

// Options are the settings of a Bot. Zero values take the defaults.
type Options struct {
	// Effects the bot offers: one is applied to every photo at once; with
	// several, each photo gets a menu (unless DefaultEffect is set).
	Effects []Effect
	// DefaultEffect, when set, is applied to every photo at once; the
	// menu stays reachable from the result.
	DefaultEffect string
	// About is the operator's own words for /start and /help (BOT_ABOUT).
	About Text

	// WebhookURL is where Replicate posts results; "" when predictions are
	// polled (photobot run).
	WebhookURL string
	// PredictionDeadline: Replicate stops a prediction that runs longer
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

	// Deadline bounds the handling of one update or result (default 20 s),
	// so that it answers, 5xx if need be, well before Telegram gives up
	// (about 60 s) or the function is killed (30 s); bookkeeping after a
	// failure has cleanupTime more. A crashed request's claims go stale
	// shortly after it (see claims.go).
	Deadline time.Duration
	// CallTimeout bounds each outbound call that moves no photo: S3 reads
	// and writes of small objects, creating a prediction, sending a
	// message (default 10 s). Transfers of photos are bounded by Deadline.
	CallTimeout time.Duration
	// SaveBudget bounds the saving of a task after its prediction was
	// created, retries included (default 1.5 s): when it runs out the
	// prediction is canceled before a model of a few seconds finishes, so
	// that a redelivery does not pay for a second one.
	SaveBudget time.Duration
	// ShowStars: /stats shows the Stars counters (payments are on).
	ShowStars bool
	// Payments (with Deps.Payments; see payments.go). FreePerDay photos
	// a day are free for each user before an effect's Price is asked;
	// StarPacks are the top-ups /buy offers; PaySupport and Terms answer
	// /paysupport and /terms (the core's words when nil). PaySecret signs
	// the invoices' payloads: derived from the bot token, so that only
	// this bot's invoices are accepted.
	FreePerDay        int
	StarPacks         []int
	PaySupport, Terms Text
	PaySecret         []byte

	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultDeadline           = 20 * time.Second
	DefaultPredictionDeadline = 10 * time.Minute
	defaultCallTimeout        = 10 * time.Second
	defaultSaveBudget         = 1500 * time.Millisecond
	// cleanupTime is what bookkeeping that must outlive a canceled
	// request gets (releasing a claim, canceling a prediction).
	cleanupTime = 4 * time.Second
)

var effectID = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// New builds a Bot from its ports and options.
func New(d Deps, o Options) (*Bot, error) {
	if d.Store == nil || d.Images == nil || d.Chat == nil || d.Models == nil {
		return nil, errors.New("pipeline: Store, Images, Chat and Models are all needed")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(o.Effects) == 0 {
		return nil, errors.New("pipeline: no effect configured")
	}
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.PredictionDeadline <= 0 {
		o.PredictionDeadline = DefaultPredictionDeadline
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = defaultCallTimeout
	}
	if o.SaveBudget <= 0 {
		o.SaveBudget = defaultSaveBudget
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if d.Payments != nil && len(o.PaySecret) < 16 {
		return nil, errors.New("pipeline: payments need a PaySecret of 16 bytes or more")
	}
	b := &Bot{store: d.Store, images: d.Images, chat: d.Chat, models: d.Models, pay: d.Payments, log: d.Log, opt: o,
		effect: map[string]*Effect{}, ledger: d.Ledger, alerts: &alerted{}}
	for i := range b.opt.Effects {
		e := &b.opt.Effects[i]
		if !effectID.MatchString(e.ID) {
			return nil, fmt.Errorf("pipeline: effect id %q is not [a-z0-9_]{1,32}", e.ID)
		}
		if b.effect[e.ID] != nil {
			return nil, fmt.Errorf("pipeline: effect %q twice", e.ID)
		}
		if e.ImageField == "" || e.Model == "" {
			return nil, fmt.Errorf("pipeline: effect %q needs a model and an image field", e.ID)
		}
		if e.Send == "" {
			e.Send = AsPhoto
		}
		b.effect[e.ID] = e
	}
	if o.DefaultEffect != "" && b.effect[o.DefaultEffect] == nil {
		return nil, fmt.Errorf("pipeline: default effect %q is not one of the effects", o.DefaultEffect)
	}
	b.words = map[string]*words{"ru": newWords(&ru, b), "en": newWords(&en, b)}
	return b, nil
}

// Deadline is how long the handling of one update or result may take.
func (b *Bot) Deadline() time.Duration { return b.opt.Deadline }

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

func (b *Bot) now() time.Time { return b.opt.Now() }

// call gives one outbound call its timeout.
func (b *Bot) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.opt.CallTimeout)
}

// cleanup gives bookkeeping that must outlive a canceled request its own
// short deadline.
func cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTime)
}

// single reports whether the bot has one effect: the spec's flow, no menu.
func (b *Bot) single() bool { return len(b.opt.Effects) == 1 }
