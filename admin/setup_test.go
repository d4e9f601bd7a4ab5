package admin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/pipeline"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

func TestSetupIsIdempotent(t *testing.T) {
	e := testenv.New(t)
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		if err := admin.Setup(context.Background(), e.Bot, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, &out)
		}
		for _, want := range []string{"OK    bucket", "OK    lifecycle", "OK    conditional writes", "OK    replicate token", `OK    model: acme/photo-restore takes "image"`,
			"OK    telegram token: bot @", "OK    telegram commands", "OK    telegram webhook"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, &out)
			}
		}
	}
	rules, err := e.Store.GetLifecycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != len(pipeline.LifecycleRules) {
		t.Fatalf("rules %+v, want %+v", rules, pipeline.LifecycleRules)
	}
	for i, r := range rules {
		w := pipeline.LifecycleRules[i]
		if r.Prefix != w.Prefix || r.Days != w.Days {
			t.Errorf("rule %d = %+v, want %+v", i, r, w)
		}
	}
	wh := e.TG.Webhook()
	if wh.URL != e.URL+"/webhook/telegram" || wh.SecretToken != testenv.WebhookSecret || strings.Join(wh.AllowedUpdates, ",") != "message,callback_query,pre_checkout_query" {
		t.Errorf("webhook = %+v", wh)
	}
	if keys := e.Keys("setup/"); len(keys) != 0 {
		t.Errorf("setup left %v behind", keys)
	}
}

func TestSetupFailsClearly(t *testing.T) {
	cases := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"missing bucket", map[string]string{"S3_BUCKET": "no-such-bucket-photobot"}, "FAIL  bucket"},
		{"wrong image field", map[string]string{"REPLICATE_IMAGE_FIELD": "input_image"}, `no input "input_image"`},
		{"unknown model", map[string]string{"REPLICATE_MODEL": "acme/nothing"}, "hint: Replicate has no model acme/nothing"},
		{"bad replicate token", map[string]string{"REPLICATE_API_TOKEN": "r8_wrong"}, "hint: Replicate refuses REPLICATE_API_TOKEN"},
		{"bad telegram token", map[string]string{"TG_BOT_TOKEN": "1:wrong"}, "hint: Telegram refuses TG_BOT_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t, func(v map[string]string) {
				for k, val := range tc.vars {
					v[k] = val
				}
			})
			var out bytes.Buffer
			err := admin.Setup(context.Background(), e.Bot, &out)
			if err == nil || !strings.Contains(out.String(), tc.want) {
				t.Errorf("err %v, output:\n%s\nwant %q", err, &out, tc.want)
			}
			// The reason is printed once, in the report; the error only
			// names the step.
			if err != nil && strings.Contains(err.Error(), "hint") {
				t.Errorf("the error repeats the report: %v", err)
			}
			if e.TG.Webhook().URL != "" {
				t.Errorf("webhook set although setup failed")
			}
		})
	}
}

func TestSetupRegistersCommands(t *testing.T) {
	e := testenv.New(t)
	if err := admin.Setup(context.Background(), e.Bot, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if en, ru := e.TG.Commands(), e.TG.CommandsFor("default", "ru"); len(en) != 2 || en[0].Command != "start" || len(ru) != 2 || ru[1].Description != "Как им пользоваться" {
		t.Errorf("commands: %+v / %+v", en, ru)
	}
}
