package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/telegram"
)

// DoctorMode says what `photobot doctor` checks, when -mode does not:
// a deployment (serve) when the environment names a bucket or a public
// URL, else the local bot (run).
func DoctorMode(getenv func(string) string) config.Mode {
	if getenv("S3_BUCKET") != "" || getenv("PUBLIC_URL") != "" {
		return config.Serve
	}
	return config.Run
}

var doctorOf = map[config.Mode]string{
	config.Serve:     "a deployment (serve, the functions): configuration, bucket, Telegram webhook, Replicate",
	config.Run:       "the local bot (photobot run): configuration, storage, bot token, no webhook, Replicate",
	config.Preflight: "the tokens and the models, before a deploy creates anything",
}

// Doctor checks what mode needs and writes one line per check: OK, WARN or
// FAIL, with a hint. It reports false when anything failed. connect makes
// the services of the configuration read from getenv. It changes nothing
// but a probe object under setup/ (deleted again).
func Doctor(ctx context.Context, getenv func(string) string, mode config.Mode, connect Connect, w io.Writer) bool {
	r := &report{w: w}
	fmt.Fprintf(w, "checking %s\n\n", doctorOf[mode])
	cfg := doctorConfig(r, getenv, mode)
	checkAccess(r, cfg)
	s := connect(cfg)
	if mode != config.Preflight {
		doctorStorage(ctx, r, s, mode)
	}
	if s.Telegram != nil {
		doctorTelegram(ctx, r, s, mode)
	}
	if s.Replicate != nil {
		if checkReplicate(ctx, r, s.Replicate, cfg) && mode == config.Serve {
			doctorWebhookSecret(ctx, r, s.Replicate, cfg)
		}
	}
	if r.failed {
		fmt.Fprintln(w, "\nsome checks FAILED: see the hints above")
	} else {
		fmt.Fprintln(w, "\nall checks passed")
	}
	return !r.failed
}

// doctorConfig loads the configuration and reports each of its problems
// with the hint that fits it: a missing variable is set, a malformed one
// corrected.
func doctorConfig(r *report, getenv func(string) string, mode config.Mode) *config.Config {
	cfg, err := config.Load(getenv, mode)
	var cerr *config.Error
	switch {
	case errors.As(err, &cerr):
		where := "where the functions get their environment (Terraform variables, Lockbox)"
		if mode != config.Serve {
			where = "in the environment photobot runs with"
		}
		for _, p := range cerr.Problems {
			r.fail("configuration", p.String(), p.Hint(where))
		}
	case err != nil:
		r.fail("configuration", err.Error(), "")
	default:
		r.ok("configuration", "complete and well-formed")
	}
	return cfg
}

func doctorStorage(ctx context.Context, r *report, s Services, mode config.Mode) {
	cfg := s.Config
	switch {
	case cfg.S3Bucket == "" && mode == config.Run:
		doctorDataDir(r, cfg.DataDir)
	case s.Bucket != nil:
		checkStore(ctx, r, s.Bucket, cfg, false)
	}
	// Otherwise no bucket, or no keys: said by the configuration's check.
}

// doctorDataDir checks that photobot run can keep its state in DATA_DIR,
// without creating it (doctor changes nothing): the directory, or the
// nearest parent run would create it in, must be writable.
func doctorDataDir(r *report, dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	hint := "set DATA_DIR to a directory this user may write, or S3_BUCKET to keep the state in a bucket"
	probe, note := abs, ""
	for {
		fi, err := os.Stat(probe)
		if err == nil && !fi.IsDir() {
			r.fail("storage", fmt.Sprintf("DATA_DIR %s: %s is not a directory", abs, probe), hint)
			return
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(probe) == probe {
			r.fail("storage", fmt.Sprintf("DATA_DIR %s cannot be used: %v", abs, unwrapped(err)), hint)
			return
		}
		probe, note = filepath.Dir(probe), " (does not exist yet: photobot run creates it)"
	}
	f, err := os.CreateTemp(probe, ".doctor-")
	if err != nil {
		r.fail("storage", fmt.Sprintf("DATA_DIR %s cannot be used: %s is not writable by this user (%v)", abs, probe, unwrapped(err)), hint)
		return
	}
	f.Close()
	os.Remove(f.Name())
	r.ok("storage", "local directory "+abs+note+" (no bucket needed)")
}

// unwrapped drops the operation and path a *PathError puts in front.
func unwrapped(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

func doctorTelegram(ctx context.Context, r *report, s Services, mode config.Mode) {
	cfg := s.Config
	if _, _, ok := checkBot(ctx, r, s.Telegram, cfg.TelegramAPIURL); !ok {
		return
	}
	checkUsernames(ctx, r, s.Telegram, cfg)
	if mode == config.Preflight {
		return
	}
	info, err := s.Telegram.GetWebhookInfo(ctx)
	if err != nil {
		r.fail("telegram webhook", err.Error(), telegramHint(err, cfg.TelegramAPIURL))
		return
	}
	if mode == config.Run {
		if info.URL != "" {
			r.fail("telegram webhook", "set to "+info.URL+": Telegram refuses long polling while a bot has a webhook",
				"run `photobot run --drop-webhook` (it deletes it; pending updates are kept)")
		} else {
			r.ok("telegram webhook", "none: long polling works")
		}
		return
	}
	want := cfg.PublicURL + httpapi.TelegramPath
	switch {
	case info.URL == "":
		r.fail("telegram webhook", "not set", "run photobot setup")
	case cfg.PublicURL != "" && info.URL != want:
		r.fail("telegram webhook", "points at "+info.URL+", not "+want, "run photobot setup")
	default:
		r.ok("telegram webhook", info.URL)
	}
	checkAllowedUpdates(r, cfg, info.AllowedUpdates)
	if info.PendingUpdateCount > 50 {
		r.warn("pending updates", fmt.Sprintf("%d waiting", info.PendingUpdateCount), "the webhook is failing or slow: read the functions' logs")
	} else {
		r.ok("pending updates", fmt.Sprint(info.PendingUpdateCount))
	}
	if info.LastErrorMessage != "" {
		when := time.Unix(int64(info.LastErrorDate), 0).UTC().Format(time.RFC3339)
		r.warn("last webhook error", info.LastErrorMessage+" at "+when, "Telegram retries; if it is recent, read the functions' logs")
	}
	if cfg.PublicURL != "" {
		secretEnforced(ctx, r, s.HTTP, want)
	}
}

// checkAllowedUpdates: a webhook that lists the kinds of update it gets
// (none listed is all of them) must list the ones the bot reads. Only a bot
// that takes payments needs pre_checkout_query: a deployment set up before
// payments lacks it, harmlessly until a price is set.
func checkAllowedUpdates(r *report, cfg *config.Config, allowed []string) {
	if len(allowed) == 0 {
		return
	}
	var missing []string
	for _, u := range telegram.AllowedUpdates {
		if u != telegram.PreCheckoutUpdate && !slices.Contains(allowed, u) {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		r.fail("telegram webhook", fmt.Sprintf("allowed_updates %v lacks %s", allowed, strings.Join(missing, ", ")),
			"run photobot setup (button presses arrive as callback_query)")
	}
	if paymentsOn(cfg) && !slices.Contains(allowed, telegram.PreCheckoutUpdate) {
		r.fail("telegram webhook", fmt.Sprintf("allowed_updates %v lacks %s: payments are on, but Telegram cannot ask the bot "+
			"before a payment, so every payment fails", allowed, telegram.PreCheckoutUpdate),
			"run `photobot setup`: it sets allowed_updates with pre_checkout_query")
	}
}

// paymentsOn: something costs Stars (PRICE_STARS, or an effect's price).
func paymentsOn(cfg *config.Config) bool {
	if cfg.Payments.PriceStars > 0 {
		return true
	}
	for _, e := range cfg.Effects {
		if e.Price > 0 {
			return true
		}
	}
	return false
}

// secretEnforced posts an update without the secret to the webhook: a
// deployment that accepts it lets anyone spend its Replicate credit.
func secretEnforced(ctx context.Context, r *report, hc *http.Client, url string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(`{"update_id":0}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		r.fail("webhook secret", "the webhook is not reachable: "+err.Error(), "check PUBLIC_URL and the API Gateway")
		return
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		r.ok("webhook secret", "updates without the secret token are refused (401)")
		return
	}
	r.fail("webhook secret", fmt.Sprintf("an update without the secret token got %s", resp.Status),
		"the endpoint must check TG_WEBHOOK_SECRET; redeploy, then run photobot setup")
}

func doctorWebhookSecret(ctx context.Context, r *report, rc Models, cfg *config.Config) {
	if cfg.ReplicateWebhookSecret != "" {
		r.ok("replicate webhook secret", "configured (REPLICATE_WEBHOOK_SECRET)")
	} else if _, err := rc.WebhookSecret(ctx); err != nil {
		r.fail("replicate webhook secret", "cannot be fetched: "+err.Error(), "set REPLICATE_WEBHOOK_SECRET (whsec_...), or check the token")
	} else {
		r.ok("replicate webhook secret", "retrievable from Replicate")
	}
}
