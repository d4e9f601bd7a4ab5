// Package config reads photobot's configuration from environment
// variables and reports every missing or malformed one in a single error.
package config

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
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
)

// String is the command of the mode.
func (m Mode) String() string {
	return [...]string{"serve", "run", "setup", "preflight"}[m]
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
	// REPLICATE_MODEL, REPLICATE_INPUT, REPLICATE_IMAGE_FIELD and
	// REPLICATE_PROMPT_FIELD.
	Effects       []pipeline.Effect
	DefaultEffect string        // DEFAULT_EFFECT
	About         pipeline.Text // BOT_ABOUT

	Model                  replicate.Model // REPLICATE_MODEL
	PromptField            string          // REPLICATE_PROMPT_FIELD
	PredictionDeadline     time.Duration   // PREDICTION_DEADLINE
	Input                  map[string]any  // REPLICATE_INPUT
	ImageField             string          // REPLICATE_IMAGE_FIELD
	ReplicateWebhookSecret string          // REPLICATE_WEBHOOK_SECRET

	TelegramAPIURL  string // TELEGRAM_API_URL
	ReplicateAPIURL string // REPLICATE_API_URL

	AllowedUsers *pipeline.Users // ALLOWED_USERS; nil: everyone
	AdminUsers   *pipeline.Users // ADMIN_USERS
	MaxActive    int             // MAX_ACTIVE_PER_USER
	DailyLimit   int             // DAILY_LIMIT_PER_USER

	Port     int        // PORT
	DataDir  string     // DATA_DIR
	LogLevel slog.Level // LOG_LEVEL
}

// Var documents one environment variable; Vars is the table in the README.
type Var struct {
	Name, Default, Meaning string
}

// Vars lists every variable photobot reads.
var Vars = []Var{
	{"TG_BOT_TOKEN", "", "Telegram bot token from @BotFather"},
	{"REPLICATE_API_TOKEN", "", "Replicate API token (r8_...)"},
	{"REPLICATE_MODEL", "", "owner/name (official model), owner/name:<version> or a 64-hex version id; not with EFFECTS"},
	{"REPLICATE_INPUT", "{}", "JSON object of model inputs sent with every photo"},
	{"REPLICATE_IMAGE_FIELD", "image", "model input that receives the photo URL"},
	{"REPLICATE_WEBHOOK_SECRET", "fetched from Replicate", "whsec_... key that signs Replicate webhooks"},
	{"REPLICATE_PROMPT_FIELD", "", "model input that receives the photo's caption (e.g. prompt); unset: captions are ignored"},
	{"EFFECTS", "", "JSON array of effects: a menu of models (see Effects); replaces REPLICATE_MODEL and its companions"},
	{"EFFECTS_FILE", "", "path of a file holding the EFFECTS JSON (run and serve; the deploy reads it into EFFECTS)"},
	{"RESULT_AS", "photo", "how results are sent: photo (recompressed by Telegram), document (the file itself) or both; an effect's send wins"},
	{"DEFAULT_EFFECT", "", "with several effects: the id of the one every photo starts at once (the menu stays under the result)"},
	{"BOT_ABOUT", "", "your own words at the top of /start and /help: text, or {\"en\": ..., \"ru\": ...}"},
	{"PREDICTION_DEADLINE", "10m", "Replicate cancels a prediction running longer (Cancel-After); 5s to 24h"},
	{"ALLOWED_USERS", "everyone", "comma-separated Telegram user ids or @usernames served; others are refused politely"},
	{"ADMIN_USERS", "", "user ids or @usernames exempt from the limits"},
	{"MAX_ACTIVE_PER_USER", "2", "predictions one user may have in flight; 0 = unlimited"},
	{"DAILY_LIMIT_PER_USER", "50", "predictions one user may start per UTC day; 0 = unlimited"},
	{"S3_BUCKET", "", "bucket for photos and task state (run: optional, DATA_DIR otherwise)"},
	{"AWS_ACCESS_KEY_ID", "", "static access key of the bucket's service account"},
	{"AWS_SECRET_ACCESS_KEY", "", "its secret"},
	{"S3_ENDPOINT_URL", "https://storage.yandexcloud.net", "S3 endpoint"},
	{"S3_REGION", "ru-central1", "S3 region"},
	{"PUBLIC_URL", "", "https base URL of the webhooks (the API Gateway), serve/setup only"},
	{"TG_WEBHOOK_SECRET", "", "1-256 of A-Z a-z 0-9 _ -: Telegram sends it with every webhook"},
	{"TELEGRAM_API_URL", telegram.DefaultAPIURL, "Bot API server (or your own telegram-bot-api)"},
	{"REPLICATE_API_URL", replicate.DefaultAPIURL, "Replicate API base"},
	{"PORT", "8080", "HTTP port of photobot serve"},
	{"DATA_DIR", "./data", "local storage of photobot run when S3_BUCKET is unset"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
}

// readBy names the commands that read a variable, where not all do.
var readBy = map[string][]string{
	"S3_BUCKET":                {"run", "serve", "setup", "doctor"},
	"AWS_ACCESS_KEY_ID":        {"run", "serve", "setup", "doctor"},
	"AWS_SECRET_ACCESS_KEY":    {"run", "serve", "setup", "doctor"},
	"S3_ENDPOINT_URL":          {"run", "serve", "setup", "doctor"},
	"S3_REGION":                {"run", "serve", "setup", "doctor"},
	"PUBLIC_URL":               {"serve", "setup", "doctor"},
	"TG_WEBHOOK_SECRET":        {"serve", "setup", "doctor"},
	"REPLICATE_WEBHOOK_SECRET": {"serve", "doctor"},
	"PORT":                     {"serve"},
	"DATA_DIR":                 {"run", "doctor"},
}

// VarsFor lists the variables command reads.
func VarsFor(command string) []Var {
	var out []Var
	for _, v := range Vars {
		if cmds, ok := readBy[v.Name]; !ok || slices.Contains(cmds, command) {
			out = append(out, v)
		}
	}
	return out
}

var (
	tokenRe  = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)
	secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	fieldRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// Load reads the configuration for mode through getenv (os.Getenv).
// Secrets are never echoed in its errors.
func Load(getenv func(string) string, mode Mode) (*Config, error) {
	var problems, missing []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	need := func(name string) string {
		v := get(name, "")
		if v == "" {
			bad(name, "missing; %s", meaning(name))
			missing = append(missing, name)
		}
		return v
	}
	c := &Config{}

	c.TelegramToken = need("TG_BOT_TOKEN")
	if c.TelegramToken != "" && !tokenRe.MatchString(c.TelegramToken) {
		bad("TG_BOT_TOKEN", "malformed; expected <digits>:<letters, digits, _ or -> as @BotFather gives it")
	}
	c.ReplicateToken = need("REPLICATE_API_TOKEN")
	if strings.ContainsAny(c.ReplicateToken, " \t\r\n") {
		bad("REPLICATE_API_TOKEN", "contains white space")
	}
	// The effects: EFFECTS (or EFFECTS_FILE), or the single one of
	// REPLICATE_MODEL and its companions.
	send := pipeline.AsPhoto
	if v := get("RESULT_AS", ""); v != "" {
		var err error
		if send, err = parseSend(v); err != nil {
			bad("RESULT_AS", "%v", err)
			send = pipeline.AsPhoto
		}
	}
	effects, effectsFile := get("EFFECTS", ""), get("EFFECTS_FILE", "")
	switch {
	case effects != "" && effectsFile != "":
		bad("EFFECTS", "and EFFECTS_FILE are both set: keep one of them")
	case effectsFile != "":
		data, err := readFile(effectsFile)
		if err != nil {
			bad("EFFECTS_FILE", "cannot read %s: %v", effectsFile, errors.Unwrap(err))
		} else {
			c.Effects = parseEffects(data, "EFFECTS_FILE", send, bad)
		}
	case effects != "":
		c.Effects = parseEffects([]byte(effects), "EFFECTS", send, bad)
	}
	menu := effects != "" || effectsFile != ""
	if menu {
		for _, name := range []string{"REPLICATE_MODEL", "REPLICATE_INPUT", "REPLICATE_IMAGE_FIELD", "REPLICATE_PROMPT_FIELD"} {
			if get(name, "") != "" {
				bad(name, "is set together with EFFECTS: every effect names its own model and inputs; remove %s", name)
			}
		}
	} else if m := need("REPLICATE_MODEL"); m != "" {
		model, err := replicate.ParseModel(m)
		if err != nil {
			bad("REPLICATE_MODEL", "%v", err)
		}
		c.Model = model
	}
	c.Input = map[string]any{}
	if in := get("REPLICATE_INPUT", ""); in != "" {
		if err := json.Unmarshal([]byte(in), &c.Input); err != nil || c.Input == nil {
			bad("REPLICATE_INPUT", "not a JSON object (e.g. {\"scale\": 2})")
			c.Input = map[string]any{}
		}
	}
	c.ImageField = get("REPLICATE_IMAGE_FIELD", "image")
	if !fieldRe.MatchString(c.ImageField) {
		bad("REPLICATE_IMAGE_FIELD", "%q is not an input name (letters, digits, _)", c.ImageField)
	}
	c.ReplicateWebhookSecret = get("REPLICATE_WEBHOOK_SECRET", "")
	if s := c.ReplicateWebhookSecret; s != "" {
		if _, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_")); err != nil || !strings.HasPrefix(s, "whsec_") {
			bad("REPLICATE_WEBHOOK_SECRET", "malformed; expected whsec_<base64>, as GET /v1/webhooks/default/secret returns it")
		}
	}

	c.PromptField = get("REPLICATE_PROMPT_FIELD", "")
	if c.PromptField != "" && !fieldRe.MatchString(c.PromptField) {
		bad("REPLICATE_PROMPT_FIELD", "%q is not an input name (letters, digits, _)", c.PromptField)
	}
	deadline := get("PREDICTION_DEADLINE", "10m")
	if d, err := time.ParseDuration(deadline); err != nil || d < 5*time.Second || d > 24*time.Hour {
		bad("PREDICTION_DEADLINE", "%q is not a duration from 5s to 24h (e.g. 10m)", deadline)
	} else {
		c.PredictionDeadline = d
	}
	if s := get("ALLOWED_USERS", ""); s != "" {
		u, err := pipeline.ParseUsers(s)
		if err != nil || u.Len() == 0 {
			bad("ALLOWED_USERS", "%v (expected e.g. 12345,@alice)", err)
		}
		c.AllowedUsers = u
	}
	if u, err := pipeline.ParseUsers(get("ADMIN_USERS", "")); err != nil {
		bad("ADMIN_USERS", "%v (expected e.g. 12345,@alice)", err)
	} else {
		c.AdminUsers = u
	}
	count := func(name, def string) int {
		v := get(name, def)
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad(name, "%q is not a whole number >= 0", v)
		}
		return n
	}
	c.MaxActive = count("MAX_ACTIVE_PER_USER", "2")
	c.DailyLimit = count("DAILY_LIMIT_PER_USER", "50")

	c.S3Bucket = get("S3_BUCKET", "")
	c.S3Endpoint = get("S3_ENDPOINT_URL", "https://storage.yandexcloud.net")
	c.S3Region = get("S3_REGION", "ru-central1")
	if mode == Serve || mode == Setup || mode == Run && c.S3Bucket != "" {
		c.S3Bucket = need("S3_BUCKET")
		c.AccessKeyID = need("AWS_ACCESS_KEY_ID")
		c.SecretAccessKey = need("AWS_SECRET_ACCESS_KEY")
	}
	if c.S3Bucket != "" && !bucketRe.MatchString(c.S3Bucket) {
		bad("S3_BUCKET", "%q is not a bucket name (3-63 of a-z 0-9 . -)", c.S3Bucket)
	}
	if err := checkURL(c.S3Endpoint); err != nil {
		bad("S3_ENDPOINT_URL", "%v", err)
	}

	if mode == Serve || mode == Setup {
		c.PublicURL = strings.TrimRight(need("PUBLIC_URL"), "/")
		if c.PublicURL != "" {
			if err := checkURL(c.PublicURL); err != nil {
				bad("PUBLIC_URL", "%v", err)
			}
		}
		c.TelegramWebhookSecret = need("TG_WEBHOOK_SECRET")
		if s := c.TelegramWebhookSecret; s != "" && !secretRe.MatchString(s) {
			bad("TG_WEBHOOK_SECRET", "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
		}
	}

	c.TelegramAPIURL = strings.TrimRight(get("TELEGRAM_API_URL", telegram.DefaultAPIURL), "/")
	if err := checkURL(c.TelegramAPIURL); err != nil {
		bad("TELEGRAM_API_URL", "%v", err)
	}
	c.ReplicateAPIURL = strings.TrimRight(get("REPLICATE_API_URL", replicate.DefaultAPIURL), "/")
	if err := checkURL(c.ReplicateAPIURL); err != nil {
		bad("REPLICATE_API_URL", "%v", err)
	}

	port := get("PORT", "8080")
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		bad("PORT", "%q is not a port number (1-65535)", port)
	}
	c.Port = p
	c.DataDir = get("DATA_DIR", "./data")
	lvl := get("LOG_LEVEL", "info")
	if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
		bad("LOG_LEVEL", "%q is not one of debug, info, warn, error", lvl)
	}

	if !menu && c.Model != (replicate.Model{}) {
		c.Effects = []pipeline.Effect{singleEffect(c, send)}
	}
	if d := get("DEFAULT_EFFECT", ""); d != "" {
		if !slices.ContainsFunc(c.Effects, func(e pipeline.Effect) bool { return e.ID == d }) && len(c.Effects) > 0 {
			var ids []string
			for _, e := range c.Effects {
				ids = append(ids, e.ID)
			}
			bad("DEFAULT_EFFECT", "%q is not one of the effects (%s)", d, strings.Join(ids, ", "))
		}
		c.DefaultEffect = d
	}
	if a := get("BOT_ABOUT", ""); a != "" {
		if strings.HasPrefix(a, "{") {
			t, err := parseText(json.RawMessage(a))
			if err != nil {
				bad("BOT_ABOUT", "%v", err)
			}
			c.About = t
		} else {
			c.About = pipeline.Text{"en": a}
		}
	}

	if len(problems) > 0 {
		return c, &Error{Problems: problems, Missing: missing}
	}
	return c, nil
}

// singleEffect is the effect of REPLICATE_MODEL and its companions, named
// after the model.
func singleEffect(c *Config, send pipeline.SendAs) pipeline.Effect {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, c.Model.Name)
	if id == "" {
		id = "photo"
	}
	return pipeline.Effect{ID: id[:min(len(id), 32)], Title: pipeline.Text{"en": c.Model.Short()},
		Model: c.Model.String(), Input: c.Input, ImageField: c.ImageField, PromptField: c.PromptField,
		Send: send}
}

// readFile reads EFFECTS_FILE (a variable, so that tests can stand in).
var readFile = os.ReadFile

// Error lists every problem of a configuration.
type Error struct {
	Problems []string
	Missing  []string // names of the required variables that are unset
}

func (e *Error) Error() string {
	return "configuration is incomplete or malformed:\n  " + strings.Join(e.Problems, "\n  ") +
		"\n(see the Configuration table in README.md)"
}

// Required lists the variables mode cannot do without. The deploy test
// checks that Terraform gives each of them to the functions.
func Required(mode Mode) []string {
	_, err := Load(func(string) string { return "" }, mode)
	var e *Error
	if errors.As(err, &e) {
		return e.Missing
	}
	return nil
}

func meaning(name string) string {
	for _, v := range Vars {
		if v.Name == name {
			return v.Meaning
		}
	}
	return "required"
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("must be a plain base URL, without user, query or fragment")
	}
	return nil
}
