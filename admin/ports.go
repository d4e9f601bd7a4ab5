package admin

import (
	"context"
	"net/http"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
)

// What setup, doctor and run's checks need of the services, and no more.
// The composition root (app) provides them.

// Bucket is the store as setup and doctor see it: reachable, its expiry
// rules, and a probe that conditional writes are honoured.
type Bucket interface {
	CheckBucket(ctx context.Context) error
	GetLifecycle(ctx context.Context) ([]pipeline.LifecycleRule, error)
	PutLifecycle(ctx context.Context, rules []pipeline.LifecycleRule) error
	CheckConditionalWrites(ctx context.Context) error
}

// BotAPI is the operator's side of the Bot API.
type BotAPI interface {
	GetMe(ctx context.Context) (*models.User, error)
	GetWebhookInfo(ctx context.Context) (*models.WebhookInfo, error)
	SetWebhook(ctx context.Context, p *bot.SetWebhookParams) error
	DeleteWebhook(ctx context.Context) error
	SetMyCommands(ctx context.Context, p *bot.SetMyCommandsParams) error
	LookUpUsername(ctx context.Context, username string) (id int64, private bool, err error)
}

// Models is the operator's side of Replicate: the account, the models,
// the key that signs webhooks.
type Models interface {
	Account(ctx context.Context) (*replicate.Account, error)
	GetModel(ctx context.Context, m replicate.Model) (*replicate.ModelInfo, error)
	WebhookSecret(ctx context.Context) (string, error)
}

// Services are one configuration and the services it names. A service is
// nil when the configuration lacks what it takes (doctor then says so
// through the configuration's own problems).
type Services struct {
	Config    *config.Config
	Bucket    Bucket // nil without S3_BUCKET: a local directory (run)
	Telegram  BotAPI
	Replicate Models
	HTTP      *http.Client // probes the public webhook (doctor)
}

// Connect makes the Services of a configuration, which may be incomplete
// (doctor checks what it can).
type Connect func(cfg *config.Config) Services

// Deployment is a configured bot that setup prepares; *app.Bot is one.
type Deployment interface {
	Services() Services
	Commands() map[string][]pipeline.Command
}
