package admin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/go-telegram/bot"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/telegram"
)

// closed is a URL where nothing listens.
const closed = "http://127.0.0.1:1"

// A service that cannot be reached is not a bad token, and the reverse:
// each trouble gets its own hint.
func TestTroublesGetTheirOwnHints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vars  map[string]string
		fault func(tg *fake.Telegram, rp *fake.Replicate)
		want  []string
		never []string
	}{
		{"telegram unreachable", map[string]string{"TELEGRAM_API_URL": closed}, nil,
			[]string{"FAIL  telegram token: telegram getMe: cannot reach http://127.0.0.1:1", "hint: this machine cannot reach http://127.0.0.1:1"},
			[]string{"BotFather"}},
		{"telegram token revoked", map[string]string{"TG_BOT_TOKEN": "1:revoked"}, nil,
			[]string{"FAIL  telegram token: telegram getMe: 401", "hint: Telegram refuses TG_BOT_TOKEN"}, []string{"cannot reach"}},
		{"telegram throttles", nil, func(tg *fake.Telegram, _ *fake.Replicate) {
			tg.FailAlways("getMe", 429, "Too Many Requests: retry after 30")
		},
			[]string{"hint: Telegram asks to wait"}, []string{"BotFather"}},
		{"replicate unreachable", map[string]string{"REPLICATE_API_URL": closed + "/v1"}, nil,
			[]string{"FAIL  replicate token: replicate get account: cannot reach http://127.0.0.1:1/v1", "hint: this machine cannot reach http://127.0.0.1:1/v1"},
			[]string{"api-tokens"}},
		{"replicate token refused", map[string]string{"REPLICATE_API_TOKEN": "r8_wrong"}, nil,
			[]string{"FAIL  replicate token: replicate get account: 401", "hint: Replicate refuses REPLICATE_API_TOKEN"}, []string{"cannot reach"}},
		{"replicate throttles", nil, func(_ *fake.Telegram, rp *fake.Replicate) {
			rp.FailAlways("account", 429, `{"detail":"Request was throttled. Expected available in 30 seconds.","status":429}`)
		}, []string{"hint: Replicate throttles this account"}, []string{"api-tokens"}},
		{"model not found", map[string]string{"REPLICATE_MODEL": "acme/nothing"}, nil,
			[]string{"FAIL  model: acme/nothing", "hint: Replicate has no model acme/nothing"}, []string{"api-tokens"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := fake.NewTelegram(t, testenv.BotToken)
			rp := fake.NewReplicate(t, testenv.ReplicateToken)
			if tc.fault != nil {
				tc.fault(tg, rp)
			}
			vars := map[string]string{"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
				"REPLICATE_MODEL": "acme/photo-restore", "TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL}
			for k, v := range tc.vars {
				vars[k] = v
			}
			var out bytes.Buffer
			ok := admin.Doctor(context.Background(), func(k string) string { return vars[k] }, config.Preflight, app.Connect, &out)
			if ok {
				t.Errorf("doctor passed:\n%s", &out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, &out)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(out.String(), n) {
					t.Errorf("output has %q, the hint of another trouble:\n%s", n, &out)
				}
			}
		})
	}
}

// Doctor for photobot run needs no bucket, public URL or webhook secret.
func TestDoctorForRun(t *testing.T) {
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	vars := map[string]string{"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
		"REPLICATE_MODEL": "acme/photo-restore", "TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL, "DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return vars[k] }
	if m := admin.DoctorMode(getenv); m != config.Run {
		t.Errorf("mode without a bucket or a public URL: %v, want run", m)
	}
	var out bytes.Buffer
	if !admin.Doctor(context.Background(), getenv, config.Run, app.Connect, &out) {
		t.Fatalf("doctor for run failed:\n%s", &out)
	}
	for _, w := range []string{"checking the local bot", "OK    configuration", "OK    storage: local directory", "OK    telegram token: bot @",
		"OK    telegram webhook: none", `OK    model: acme/photo-restore takes "image"`} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, &out)
		}
	}
	if strings.Contains(out.String(), "S3_BUCKET") || strings.Contains(out.String(), "PUBLIC_URL") {
		t.Errorf("doctor for run asks for the cloud:\n%s", &out)
	}
	// A webhook set: long polling cannot work, and the hint says how out.
	setWebhook(t, tg)
	out.Reset()
	if admin.Doctor(context.Background(), getenv, config.Run, app.Connect, &out) || !strings.Contains(out.String(), "photobot run --drop-webhook") {
		t.Errorf("with a webhook set:\n%s", &out)
	}
}

func setWebhook(t *testing.T, tg *fake.Telegram) {
	t.Helper()
	c, err := telegram.New(tg.URL, testenv.BotToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetWebhook(context.Background(), webhookParams("https://example.com/webhook/telegram")); err != nil {
		t.Fatal(err)
	}
}

// photobot run checks the token, the models and the webhook before it
// polls, and refuses to start when one is wrong.
func TestReadyForRun(t *testing.T) {
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	load := func(change map[string]string) admin.Services {
		vars := map[string]string{"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
			"REPLICATE_MODEL": "acme/photo-restore", "TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL, "DATA_DIR": t.TempDir()}
		for k, v := range change {
			vars[k] = v
		}
		cfg, err := config.Load(func(k string) string { return vars[k] }, config.Run)
		if err != nil {
			t.Fatal(err)
		}
		return app.Connect(cfg)
	}
	var out bytes.Buffer
	s := load(nil)
	if name, err := admin.Ready(context.Background(), s, false, &out); err != nil || name != tg.BotUsername {
		t.Fatalf("Ready = %q, %v\n%s", name, err, &out)
	}
	for change, want := range map[string]string{"TG_BOT_TOKEN": "Telegram refuses TG_BOT_TOKEN", "REPLICATE_IMAGE_FIELD": `has no input "photo"`} {
		vals := map[string]string{"TG_BOT_TOKEN": "1:revoked", "REPLICATE_IMAGE_FIELD": "photo"}
		out.Reset()
		s := load(map[string]string{change: vals[change]})
		if _, err := admin.Ready(context.Background(), s, false, &out); err == nil || !strings.Contains(out.String(), want) {
			t.Errorf("%s wrong: %v\n%s", change, err, &out)
		}
	}
	setWebhook(t, tg)
	out.Reset()
	if _, err := admin.Ready(context.Background(), s, false, &out); err == nil || !strings.Contains(out.String(), "--drop-webhook") {
		t.Errorf("webhook set: %v\n%s", err, &out)
	}
	out.Reset()
	if _, err := admin.Ready(context.Background(), s, true, &out); err != nil || tg.Webhook().URL != "" {
		t.Errorf("--drop-webhook: %v, webhook %q\n%s", err, tg.Webhook().URL, &out)
	}
}

func webhookParams(url string) *bot.SetWebhookParams { return &bot.SetWebhookParams{URL: url} }
