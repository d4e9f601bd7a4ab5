package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

var (
	tokenRe  = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)
	secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	fieldRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	hostRe   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// loadTokens: TG_BOT_TOKEN and REPLICATE_API_TOKEN.
func loadTokens(p *problems, c *Config) {
	c.TelegramToken = p.need("TG_BOT_TOKEN")
	if c.TelegramToken != "" && !tokenRe.MatchString(c.TelegramToken) {
		p.bad("TG_BOT_TOKEN", "malformed; expected <digits>:<letters, digits, _ or -> as @BotFather gives it")
	}
	c.ReplicateToken = p.need("REPLICATE_API_TOKEN")
	if strings.ContainsAny(c.ReplicateToken, " \t\r\n") {
		p.bad("REPLICATE_API_TOKEN", "contains white space")
	}
}

// loadReplicate: how predictions are made and how their webhooks are
// verified, whatever the effects.
func loadReplicate(p *problems, c *Config) {
	c.ReplicateWebhookSecret = p.get("REPLICATE_WEBHOOK_SECRET", "")
	if s := c.ReplicateWebhookSecret; s != "" {
		if _, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_")); err != nil || !strings.HasPrefix(s, "whsec_") {
			p.bad("REPLICATE_WEBHOOK_SECRET", "malformed; expected whsec_<base64>, as GET /v1/webhooks/default/secret returns it")
		}
	}
	deadline := p.get("PREDICTION_DEADLINE", "10m")
	if d, err := time.ParseDuration(deadline); err != nil || d < 5*time.Second || d > 24*time.Hour {
		p.bad("PREDICTION_DEADLINE", "%q is not a duration from 5s to 24h (e.g. 10m)", deadline)
	} else {
		c.PredictionDeadline = d
	}
}

// loadAccess: who may use the bot, and how much.
func loadAccess(p *problems, c *Config) {
	if s := p.get("ALLOWED_USERS", ""); s != "" {
		u, err := pipeline.ParseUsers(s)
		if err != nil || u.Len() == 0 {
			p.bad("ALLOWED_USERS", "%v (expected e.g. 12345,@alice)", err)
		}
		c.AllowedUsers, c.AllowedList = u, entries(s)
	}
	admins := p.get("ADMIN_USERS", "")
	if u, err := pipeline.ParseUsers(admins); err != nil {
		p.bad("ADMIN_USERS", "%v (expected e.g. 12345,@alice)", err)
	} else {
		c.AdminUsers, c.AdminList = u, entries(admins)
	}
	c.MaxActive = count(p, "MAX_ACTIVE_PER_USER", "2")
	c.DailyLimit = count(p, "DAILY_LIMIT_PER_USER", "50")
}

// entries are the non-empty items of a comma-separated list.
func entries(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// count reads a whole number >= 0.
func count(p *problems, name, def string) int {
	v := p.get(name, def)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.bad(name, "%q is not a whole number >= 0", v)
		return 0
	}
	return n
}

// loadStore: the bucket, required where the state must be shared (serve,
// setup, the callback) and optional for run, which falls back to DATA_DIR.
func loadStore(p *problems, c *Config, mode Mode) {
	c.S3Bucket = p.get("S3_BUCKET", "")
	c.S3Endpoint = p.get("S3_ENDPOINT_URL", "https://storage.yandexcloud.net")
	c.S3Region = p.get("S3_REGION", "ru-central1")
	if mode == Serve || mode == Setup || mode == Callback || mode == Run && c.S3Bucket != "" {
		c.S3Bucket = p.need("S3_BUCKET")
		c.AccessKeyID = p.need("AWS_ACCESS_KEY_ID")
		c.SecretAccessKey = p.need("AWS_SECRET_ACCESS_KEY")
	}
	if c.S3Bucket != "" && !bucketRe.MatchString(c.S3Bucket) {
		p.bad("S3_BUCKET", "%q is not a bucket name (3-63 of a-z 0-9 . -)", c.S3Bucket)
	}
	if err := checkURL(c.S3Endpoint); err != nil {
		p.bad("S3_ENDPOINT_URL", "%v", err)
	}
}

// loadWebhooks: where Telegram and Replicate call (serve, setup and the
// callback, which serves no Telegram webhook and so goes without its secret).
func loadWebhooks(p *problems, c *Config, mode Mode) {
	if mode != Serve && mode != Setup && mode != Callback {
		return
	}
	c.PublicURL = strings.TrimRight(p.need("PUBLIC_URL"), "/")
	if c.PublicURL != "" {
		if err := checkURL(c.PublicURL); err != nil {
			p.bad("PUBLIC_URL", "%v", err)
		}
	}
	if mode == Callback {
		return
	}
	c.TelegramWebhookSecret = p.need("TG_WEBHOOK_SECRET")
	if s := c.TelegramWebhookSecret; s != "" && !secretRe.MatchString(s) {
		p.bad("TG_WEBHOOK_SECRET", "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
	}
}

// loadEndpoints: the services' addresses, and the hosts results may come
// from.
func loadEndpoints(p *problems, c *Config) {
	c.TelegramAPIURL = strings.TrimRight(p.get("TELEGRAM_API_URL", telegram.DefaultAPIURL), "/")
	if err := checkURL(c.TelegramAPIURL); err != nil {
		p.bad("TELEGRAM_API_URL", "%v", err)
	}
	c.ReplicateAPIURL = strings.TrimRight(p.get("REPLICATE_API_URL", replicate.DefaultAPIURL), "/")
	if err := checkURL(c.ReplicateAPIURL); err != nil {
		p.bad("REPLICATE_API_URL", "%v", err)
	}
	for _, h := range entries(p.get("RESULT_HOSTS", "replicate.delivery")) {
		h = strings.TrimPrefix(strings.ToLower(h), ".")
		if !hostRe.MatchString(h) || !strings.Contains(h, ".") {
			p.bad("RESULT_HOSTS", "%q is not a host name (e.g. replicate.delivery; no scheme, port or path)", h)
			continue
		}
		c.ResultHosts = append(c.ResultHosts, h)
	}
}

// loadProcess: how this process serves and logs.
func loadProcess(p *problems, c *Config) {
	port := p.get("PORT", "8080")
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		p.bad("PORT", "%q is not a port number (1-65535)", port)
	}
	c.Port = n
	c.DataDir = p.get("DATA_DIR", "./data")
	lvl := p.get("LOG_LEVEL", "info")
	if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
		p.bad("LOG_LEVEL", "%q is not one of debug, info, warn, error", lvl)
	}
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
