// Package config reads photobot's configuration from environment
// variables and reports every missing or malformed one in a single error.
package config

import (
	"log/slog"
	"os"
	"time"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
)

// Mode is what the configuration is for; each needs different variables.
type Mode int

const (
	// Serve: both webhooks over HTTP (photobot serve, the functions).
	Serve Mode = iota
	// Run: the bot on a laptop: long polling, local directory by default.
	Run
	// Setup: prepares the bucket and the Telegram webhook.
	Setup
	// Preflight: the tokens and the models only, as a deploy checks them
	// before it creates anything (photobot doctor -mode preflight).
	Preflight
	// Callback: Replicate's webhook alone (the function fn-callback). It
	// is Serve without TG_WEBHOOK_SECRET: the Telegram webhook is not
	// served there, so the secret that authenticates it stays out of that
	// function's environment.
	Callback
)

// String is the command of the mode.
func (m Mode) String() string {
	return [...]string{"serve", "run", "setup", "preflight", "callback"}[m]
}

// Config is photobot's configuration. Field comments name the variable.
type Config struct {
	TelegramToken  string // TG_BOT_TOKEN
	ReplicateToken string // REPLICATE_API_TOKEN

	S3Bucket        string // S3_BUCKET
	AccessKeyID     string // AWS_ACCESS_KEY_ID
	SecretAccessKey string // AWS_SECRET_ACCESS_KEY
	S3Endpoint      string // S3_ENDPOINT_URL
	S3Region        string // S3_REGION

	PublicURL             string // PUBLIC_URL, without a trailing slash
	TelegramWebhookSecret string // TG_WEBHOOK_SECRET

	// Effects the bot offers: EFFECTS, or the one effect of
	// REPLICATE_MODEL and its companions. Each effect's Price is the
	// one it charges (0 with payments off).
	Effects       []pipeline.Effect
	DefaultEffect string        // DEFAULT_EFFECT
	About         pipeline.Text // BOT_ABOUT

	Model                  replicate.Model // REPLICATE_MODEL
	Title                  pipeline.Text   // REPLICATE_TITLE, or the generic title
	PromptField            string          // REPLICATE_PROMPT_FIELD
	CostPerSecond          float64         // REPLICATE_COST_PER_SECOND
	PredictionDeadline     time.Duration   // PREDICTION_DEADLINE
	Input                  map[string]any  // REPLICATE_INPUT
	ImageField             string          // REPLICATE_IMAGE_FIELD
	ReplicateWebhookSecret string          // REPLICATE_WEBHOOK_SECRET

	TelegramAPIURL  string   // TELEGRAM_API_URL
	ReplicateAPIURL string   // REPLICATE_API_URL
	ResultHosts     []string // RESULT_HOSTS: host suffixes results may come from

	AllowedUsers *pipeline.Users // ALLOWED_USERS; nil: everyone
	AdminUsers   *pipeline.Users // ADMIN_USERS
	// The entries of ALLOWED_USERS and ADMIN_USERS as written (ids and
	// @names), for what the operator is told.
	AllowedList, AdminList []string
	MaxActive              int // MAX_ACTIVE_PER_USER
	DailyLimit             int // DAILY_LIMIT_PER_USER

	Payments Payments

	Port     int        // PORT
	DataDir  string     // DATA_DIR
	LogLevel slog.Level // LOG_LEVEL
}

// Payments are the settings of Telegram Stars payments; PriceStars 0 means
// payments are off and every photo is free, as without them.
type Payments struct {
	PriceStars int           // PRICE_STARS
	FreePerDay int           // FREE_PER_DAY
	StarPacks  []int         // STAR_PACKS
	PaySupport pipeline.Text // PAY_SUPPORT; nil: the core's words
	Terms      pipeline.Text // TERMS; nil: the core's words
}

// Source is where a configuration is read from.
type Source struct {
	Getenv   func(string) string
	ReadFile func(name string) ([]byte, error) // reads EFFECTS_FILE
}

// Load reads the configuration for mode from the process's environment
// through getenv (os.Getenv), and EFFECTS_FILE from the file system.
// Secrets are never echoed in its errors.
func Load(getenv func(string) string, mode Mode) (*Config, error) {
	return Source{Getenv: getenv, ReadFile: os.ReadFile}.Load(mode)
}

// Load reads the configuration for mode. Each section reports its
// problems to one collector, so that the error lists all of them.
func (s Source) Load(mode Mode) (*Config, error) {
	p := &problems{getenv: s.Getenv}
	c := &Config{}
	loadTokens(p, c)
	loadEffects(p, c, s.ReadFile)
	loadReplicate(p, c)
	loadAccess(p, c)
	loadPayments(p, c)
	loadStore(p, c, mode)
	loadWebhooks(p, c, mode)
	loadEndpoints(p, c)
	loadProcess(p, c)
	if len(p.list) > 0 {
		return c, &Error{Problems: p.list}
	}
	return c, nil
}
