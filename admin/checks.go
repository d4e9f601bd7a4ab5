// Package admin holds the operator's commands: setup prepares the cloud
// side, doctor checks it (or a local bot, or a deploy before it starts),
// and the checks photobot run makes before it polls. Each prints one line
// per check, with a hint when something is wrong. It works on the narrow
// ports of ports.go, which the composition root (app) provides.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/s3store"
)

// report writes the lines of a check: OK, WARN or FAIL, name, detail, and a
// hint on the next line.
type report struct {
	w      io.Writer
	failed bool
}

func (r *report) line(level, name, detail, hint string) {
	fmt.Fprintf(r.w, "%-5s %s: %s\n", level, name, detail)
	if hint != "" {
		fmt.Fprintf(r.w, "      hint: %s\n", hint)
	}
}

func (r *report) ok(name, detail string)         { r.line("OK", name, detail, "") }
func (r *report) warn(name, detail, hint string) { r.line("WARN", name, detail, hint) }
func (r *report) fail(name, detail, hint string) {
	r.failed = true
	r.line("FAIL", name, detail, hint)
}

// checkBot checks the bot token (getMe) and returns the bot's username,
// or, when it failed, what kind of trouble it was.
func checkBot(ctx context.Context, r *report, tg BotAPI, apiURL string) (string, trouble, bool) {
	me, err := tg.GetMe(ctx)
	if err != nil {
		r.fail("telegram token", err.Error(), telegramHint(err, apiURL))
		return "", troubleOf(err), false
	}
	r.ok("telegram token", "bot @"+me.Username)
	return me.Username, other, true
}

// checkReplicate checks the Replicate token and every effect's model: it
// exists, and takes the effect's image input (and prompt input).
func checkReplicate(ctx context.Context, r *report, rc Models, cfg *config.Config) bool {
	acct, err := rc.Account(ctx)
	if err != nil {
		r.fail("replicate token", err.Error(), replicateHint(err, cfg.ReplicateAPIURL, ""))
		return false
	}
	r.ok("replicate token", "account "+acct.Username)
	ok := true
	for _, e := range cfg.Effects {
		if !checkEffect(ctx, r, rc, cfg, e) {
			ok = false
		}
	}
	return ok
}

func checkEffect(ctx context.Context, r *report, rc Models, cfg *config.Config, e pipeline.Effect) bool {
	name := "model"
	if len(cfg.Effects) > 1 {
		name = "effect " + e.ID
	}
	m, err := replicate.ParseModel(e.Model)
	if err != nil {
		r.fail(name, err.Error(), "check the model's name")
		return false
	}
	info, err := rc.GetModel(ctx, m)
	switch {
	case err != nil:
		r.fail(name, m.Short()+": "+err.Error(), replicateHint(err, cfg.ReplicateAPIURL, m.String()))
		return false
	case info == nil:
		r.warn(name, m.Short()+": a bare version id cannot be looked up", "give the model as owner/name:version to have it checked")
		return true
	}
	if !checkInputs(r, name, m, e, info, cfg.Model != (replicate.Model{})) {
		return false
	}
	r.ok(name, fmt.Sprintf("%s takes %q", m.Short(), e.ImageField))
	return true
}

// Ready is what photobot run checks before it polls: the bot token, that
// no webhook is set (Telegram refuses long polling then; dropWebhook
// deletes it instead), and the models. It makes every check, even after
// one failed, so that one run shows everything to fix; it writes the
// report to w and returns the bot's username, or an error that names
// what failed.
func Ready(ctx context.Context, s Services, dropWebhook bool, w io.Writer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r := &report{w: w}
	var failed []string
	name, trouble, ok := checkBot(ctx, r, s.Telegram, s.Config.TelegramAPIURL)
	switch {
	case ok:
		if !readyWebhook(ctx, r, s, dropWebhook) {
			failed = append(failed, "the bot's webhook is in the way")
		}
	case trouble == unreachable:
		failed = append(failed, "cannot check the bot token")
	default:
		failed = append(failed, "the bot token does not work")
	}
	if !checkReplicate(ctx, r, s.Replicate, s.Config) {
		failed = append(failed, "Replicate or a model is not ready")
	}
	if len(failed) > 0 {
		return "", errors.New(strings.Join(failed, "; ") + " (see above)")
	}
	return name, nil
}

// readyWebhook: long polling needs the bot to have no webhook.
func readyWebhook(ctx context.Context, r *report, s Services, drop bool) bool {
	apiURL := s.Config.TelegramAPIURL
	info, err := s.Telegram.GetWebhookInfo(ctx)
	switch {
	case err != nil:
		r.fail("telegram webhook", err.Error(), telegramHint(err, apiURL))
		return false
	case info.URL != "" && drop:
		if err := s.Telegram.DeleteWebhook(ctx); err != nil {
			r.fail("telegram webhook", "could not delete it: "+err.Error(), telegramHint(err, apiURL))
			return false
		}
		r.ok("telegram webhook", "deleted "+info.URL+" (pending updates kept; photobot setup sets it again)")
	case info.URL != "":
		r.fail("telegram webhook", "set to "+info.URL+": Telegram refuses long polling while a bot has a webhook",
			"run `photobot run --drop-webhook` to delete it (pending updates are kept; `photobot setup` sets it again)")
		return false
	default:
		r.ok("telegram webhook", "none: long polling")
	}
	return true
}

// checkStore checks the bucket: reachable, lifecycle rules, conditional
// writes. put, when set, puts the rules (setup) instead of only reading
// them (doctor).
func checkStore(ctx context.Context, r *report, b Bucket, cfg *config.Config, put bool) bool {
	if err := b.CheckBucket(ctx); err != nil {
		r.fail("bucket", storeDetail(err), storeHint(err))
		return false
	}
	r.ok("bucket", fmt.Sprintf("%s at %s is reachable", cfg.S3Bucket, cfg.S3Endpoint))
	if !checkLifecycle(ctx, r, b, put) {
		return false
	}
	if err := b.CheckConditionalWrites(ctx); err != nil {
		r.fail("conditional writes", storeDetail(err), "this storage cannot give exactly-once delivery; use Yandex Object Storage, AWS S3 or MinIO")
		return false
	}
	r.ok("conditional writes", "If-None-Match: * is honoured (a second create is refused)")
	return true
}

// checkLifecycle puts the expiry rules (put) or checks they are there.
func checkLifecycle(ctx context.Context, r *report, b Bucket, put bool) bool {
	want := pipeline.LifecycleRules
	var parts []string
	for _, l := range want {
		parts = append(parts, fmt.Sprintf("%s after %dd", l.Prefix, l.Days))
	}
	if put {
		if err := b.PutLifecycle(ctx, want); err != nil {
			r.fail("lifecycle", storeDetail(err), storeHint(err))
			return false
		}
		r.ok("lifecycle", "expire "+strings.Join(parts, ", "))
		return true
	}
	rules, err := b.GetLifecycle(ctx)
	if err != nil {
		r.fail("lifecycle", storeDetail(err), storeHint(err))
		return true // doctor goes on: the other checks still tell something
	}
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(rules, func(r pipeline.LifecycleRule) bool { return r.Prefix == w.Prefix && r.Days == w.Days }) {
			missing = append(missing, fmt.Sprintf("%s after %dd", w.Prefix, w.Days))
		}
	}
	if len(missing) > 0 {
		r.warn("lifecycle", "no rule expires "+strings.Join(missing, ", "), "run photobot setup (or terraform apply): without them tasks and claims pile up")
	} else {
		r.ok("lifecycle", fmt.Sprintf("all %d expiry rules present", len(want)))
	}
	return true
}

// storeDetail is a store error without the hint it ends with (the report
// prints the hint on a line of its own).
func storeDetail(err error) string {
	if h := s3store.Hint(err); h != "" {
		return strings.TrimSuffix(err.Error(), ": "+h)
	}
	return err.Error()
}
