package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/s3store"
	"github.com/photobot/photobot/telegram"
)

// Doctor checks a deployment and writes one line per check: OK, WARN or
// FAIL, with a hint. It reports false when anything failed. It never
// changes anything but a probe object under setup/ (deleted again).
func Doctor(ctx context.Context, getenv func(string) string, w io.Writer) bool {
	d := &doctor{w: w, ok: true}
	cfg, err := config.Load(getenv, config.Serve)
	var cerr *config.Error
	switch {
	case errors.As(err, &cerr):
		for _, p := range cerr.Problems {
			d.fail("configuration", p, "set it where the functions get their environment (Terraform variables, Lockbox)")
		}
	case err != nil:
		d.fail("configuration", err.Error(), "")
	default:
		d.pass("configuration", "complete and well-formed")
	}
	hc := app.HTTPClient()

	if cfg.S3Bucket != "" && cfg.AccessKeyID != "" && cfg.SecretAccessKey != "" {
		s, err := s3store.New(s3store.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, HTTPClient: hc})
		if err == nil {
			d.storage(ctx, s, cfg)
		} else {
			d.fail("bucket", err.Error(), "")
		}
	}
	if cfg.TelegramToken != "" {
		if tg, err := telegram.New(cfg.TelegramAPIURL, cfg.TelegramToken, hc); err == nil {
			d.telegram(ctx, tg, cfg, hc)
		}
	}
	if cfg.ReplicateToken != "" {
		d.replicate(ctx, replicate.New(cfg.ReplicateAPIURL, cfg.ReplicateToken, hc), cfg)
	}
	if d.ok {
		fmt.Fprintln(w, "\nall checks passed")
	} else {
		fmt.Fprintln(w, "\nsome checks FAILED: see the hints above")
	}
	return d.ok
}

type doctor struct {
	w  io.Writer
	ok bool
}

func (d *doctor) line(level, name, detail, hint string) {
	fmt.Fprintf(d.w, "%-5s %s: %s", level, name, detail)
	if hint != "" {
		fmt.Fprintf(d.w, "\n      hint: %s", hint)
	}
	fmt.Fprintln(d.w)
}

func (d *doctor) pass(name, detail string)       { d.line("OK", name, detail, "") }
func (d *doctor) warn(name, detail, hint string) { d.line("WARN", name, detail, hint) }
func (d *doctor) fail(name, detail, hint string) {
	d.ok = false
	d.line("FAIL", name, detail, hint)
}

func (d *doctor) storage(ctx context.Context, s *s3store.Store, cfg *config.Config) {
	if err := s.CheckBucket(ctx); err != nil {
		d.fail("bucket", err.Error(), "check S3_BUCKET, S3_ENDPOINT_URL and the access key's role (storage.editor)")
		return
	}
	d.pass("bucket", cfg.S3Bucket+" is reachable")
	rules, err := s.GetLifecycle(ctx)
	if err != nil {
		d.fail("lifecycle", err.Error(), "")
	} else {
		var missing []string
		for _, want := range pipeline.LifecycleRules {
			if !slices.ContainsFunc(rules, func(r s3store.LifecycleRule) bool { return r.Prefix == want.Prefix && r.Days == want.Days }) {
				missing = append(missing, fmt.Sprintf("%s after %dd", want.Prefix, want.Days))
			}
		}
		if len(missing) > 0 {
			d.warn("lifecycle", "no rule expires "+strings.Join(missing, ", "), "run photobot setup (or terraform apply): without them tasks and claims pile up")
		} else {
			d.pass("lifecycle", fmt.Sprintf("all %d expiry rules present", len(pipeline.LifecycleRules)))
		}
	}
	if err := s.CheckConditionalWrites(ctx); err != nil {
		d.fail("conditional writes", err.Error(), "this storage cannot give exactly-once delivery; use Yandex Object Storage, AWS S3 or MinIO")
	} else {
		d.pass("conditional writes", "If-None-Match: * is honoured")
	}
}

func (d *doctor) telegram(ctx context.Context, tg *telegram.Client, cfg *config.Config, hc *http.Client) {
	me, err := tg.GetMe(ctx)
	if err != nil {
		d.fail("telegram token", err.Error(), "check TG_BOT_TOKEN (from @BotFather)")
		return
	}
	d.pass("telegram token", "bot @"+me.Username)
	info, err := tg.GetWebhookInfo(ctx)
	if err != nil {
		d.fail("telegram webhook", err.Error(), "")
		return
	}
	want := cfg.PublicURL + httpapi.TelegramPath
	switch {
	case info.URL == "":
		d.fail("telegram webhook", "not set", "run photobot setup")
	case cfg.PublicURL != "" && info.URL != want:
		d.fail("telegram webhook", "points at "+info.URL+", not "+want, "run photobot setup")
	default:
		d.pass("telegram webhook", info.URL)
	}
	if len(info.AllowedUpdates) > 0 && !slices.Contains(info.AllowedUpdates, "message") {
		d.fail("telegram webhook", fmt.Sprintf("allowed_updates %v lacks message", info.AllowedUpdates), "run photobot setup")
	}
	if info.PendingUpdateCount > 50 {
		d.warn("pending updates", fmt.Sprintf("%d waiting", info.PendingUpdateCount), "the webhook is failing or slow: read the functions' logs")
	} else {
		d.pass("pending updates", fmt.Sprint(info.PendingUpdateCount))
	}
	if info.LastErrorMessage != "" {
		when := time.Unix(int64(info.LastErrorDate), 0).UTC().Format(time.RFC3339)
		d.warn("last webhook error", info.LastErrorMessage+" at "+when, "Telegram retries; if it is recent, read the functions' logs")
	}
	if cfg.PublicURL != "" {
		d.secretEnforced(ctx, hc, want)
	}
}

// secretEnforced posts an update without the secret to the webhook: a
// deployment that accepts it lets anyone spend its Replicate credit.
func (d *doctor) secretEnforced(ctx context.Context, hc *http.Client, url string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(`{"update_id":0}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		d.fail("webhook secret", "the webhook is not reachable: "+err.Error(), "check PUBLIC_URL and the API Gateway")
		return
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		d.pass("webhook secret", "updates without the secret token are refused (401)")
		return
	}
	d.fail("webhook secret", fmt.Sprintf("an update without the secret token got %s", resp.Status),
		"the endpoint must check TG_WEBHOOK_SECRET; redeploy, then run photobot setup")
}

func (d *doctor) replicate(ctx context.Context, rc *replicate.Client, cfg *config.Config) {
	acct, err := rc.Account(ctx)
	if err != nil {
		d.fail("replicate token", err.Error(), "check REPLICATE_API_TOKEN (replicate.com/account/api-tokens)")
		return
	}
	d.pass("replicate token", "account "+acct.Username)
	if cfg.Model != (replicate.Model{}) {
		info, err := rc.GetModel(ctx, cfg.Model)
		switch {
		case err != nil:
			d.fail("replicate model", cfg.Model.Short()+": "+err.Error(), "check REPLICATE_MODEL")
		case info == nil:
			d.warn("replicate model", "a bare version id cannot be looked up", "give REPLICATE_MODEL as owner/name:version to have it checked")
		default:
			names := info.InputNames()
			slices.Sort(names)
			if len(names) > 0 && !slices.Contains(names, cfg.ImageField) {
				d.fail("replicate model", fmt.Sprintf("%s has no input %q; its inputs: %s", cfg.Model.Short(), cfg.ImageField, strings.Join(names, ", ")),
					"set REPLICATE_IMAGE_FIELD to the model's image input")
			} else {
				d.pass("replicate model", fmt.Sprintf("%s takes %q", cfg.Model.Short(), cfg.ImageField))
			}
		}
	}
	if cfg.ReplicateWebhookSecret != "" {
		d.pass("replicate webhook secret", "configured (REPLICATE_WEBHOOK_SECRET)")
	} else if _, err := rc.WebhookSecret(ctx); err != nil {
		d.fail("replicate webhook secret", "cannot be fetched: "+err.Error(), "set REPLICATE_WEBHOOK_SECRET, or check the token")
	} else {
		d.pass("replicate webhook secret", "retrievable from Replicate")
	}
}
