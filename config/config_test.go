package config

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/photobot/photobot/pipeline"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func serveEnv() map[string]string {
	return map[string]string{
		"TG_BOT_TOKEN":          "123456:ABC-def_ghi",
		"REPLICATE_API_TOKEN":   "r8_abc",
		"REPLICATE_MODEL":       "nightmareai/real-esrgan",
		"S3_BUCKET":             "my-bot-bucket",
		"AWS_ACCESS_KEY_ID":     "YCAJE",
		"AWS_SECRET_ACCESS_KEY": "YCsecret",
		"PUBLIC_URL":            "https://d5d.apigw.yandexcloud.net/",
		"TG_WEBHOOK_SECRET":     "s3cr3t_-",
	}
}

func TestServeDefaults(t *testing.T) {
	c, err := Load(env(serveEnv()), Serve)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"S3Endpoint":      {c.S3Endpoint, "https://storage.yandexcloud.net"},
		"S3Region":        {c.S3Region, "ru-central1"},
		"ImageField":      {c.ImageField, "image"},
		"Port":            {c.Port, 8080},
		"DataDir":         {c.DataDir, "./data"},
		"PublicURL":       {c.PublicURL, "https://d5d.apigw.yandexcloud.net"},
		"TelegramAPIURL":  {c.TelegramAPIURL, "https://api.telegram.org"},
		"ReplicateAPIURL": {c.ReplicateAPIURL, "https://api.replicate.com/v1"},
		"Model":           {c.Model.String(), "nightmareai/real-esrgan"},
		"Input":           {len(c.Input), 0},
	}
	for name, gw := range checks {
		if gw[0] != gw[1] {
			t.Errorf("%s = %v, want %v", name, gw[0], gw[1])
		}
	}
}

func TestEveryProblemInOneError(t *testing.T) {
	e := map[string]string{
		"TG_BOT_TOKEN":             "not a token",
		"REPLICATE_INPUT":          "[1,2]",
		"REPLICATE_IMAGE_FIELD":    "image url",
		"REPLICATE_MODEL":          "justaname",
		"REPLICATE_WEBHOOK_SECRET": "nope",
		"PORT":                     "80a",
		"LOG_LEVEL":                "loud",
		"TG_WEBHOOK_SECRET":        "has space",
		"PUBLIC_URL":               "ftp://x",
		"S3_BUCKET":                "Bad_Bucket",
	}
	_, err := Load(env(e), Serve)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	msg := err.Error()
	for _, name := range []string{"TG_BOT_TOKEN", "REPLICATE_API_TOKEN", "REPLICATE_INPUT", "REPLICATE_IMAGE_FIELD",
		"REPLICATE_MODEL", "REPLICATE_WEBHOOK_SECRET", "PORT", "LOG_LEVEL", "TG_WEBHOOK_SECRET", "PUBLIC_URL",
		"S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if !strings.Contains(msg, name+":") {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	if strings.Contains(msg, "not a token") {
		t.Errorf("error echoes the bot token:\n%s", msg)
	}
}

func TestRunNeedsOnlyTokensAndModel(t *testing.T) {
	c, err := Load(env(map[string]string{"TG_BOT_TOKEN": "1:a", "REPLICATE_API_TOKEN": "r8", "REPLICATE_MODEL": "o/m"}), Run)
	if err != nil {
		t.Fatal(err)
	}
	if c.S3Bucket != "" || c.DataDir != "./data" {
		t.Errorf("bucket %q, data dir %q", c.S3Bucket, c.DataDir)
	}
	_, err = Load(env(map[string]string{"TG_BOT_TOKEN": "1:a", "REPLICATE_API_TOKEN": "r8", "REPLICATE_MODEL": "o/m", "S3_BUCKET": "bkt"}), Run)
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("run with a bucket but no keys: %v", err)
	}
	_, err = Load(env(map[string]string{}), Run)
	if err == nil || strings.Contains(err.Error(), "PUBLIC_URL") || !strings.Contains(err.Error(), "REPLICATE_MODEL") {
		t.Errorf("run with nothing: %v", err)
	}
}

func TestInputAndSecrets(t *testing.T) {
	e := serveEnv()
	e["REPLICATE_INPUT"] = `{"scale": 4, "face_enhance": true}`
	e["REPLICATE_WEBHOOK_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	e["LOG_LEVEL"] = "debug"
	c, err := Load(env(e), Serve)
	if err != nil {
		t.Fatal(err)
	}
	if c.Input["scale"] != float64(4) || c.Input["face_enhance"] != true {
		t.Errorf("Input = %v", c.Input)
	}
	if c.LogLevel.String() != "DEBUG" {
		t.Errorf("LogLevel = %v", c.LogLevel)
	}
}

func TestVarsDocumentEveryName(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars {
		seen[v.Name] = true
	}
	for _, name := range []string{"TG_BOT_TOKEN", "REPLICATE_API_TOKEN", "S3_BUCKET", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "S3_ENDPOINT_URL", "S3_REGION", "PUBLIC_URL", "TG_WEBHOOK_SECRET", "REPLICATE_MODEL",
		"REPLICATE_INPUT", "REPLICATE_IMAGE_FIELD", "REPLICATE_WEBHOOK_SECRET", "TELEGRAM_API_URL", "REPLICATE_API_URL",
		"PORT", "DATA_DIR", "LOG_LEVEL"} {
		if !seen[name] {
			t.Errorf("Vars lacks %s", name)
		}
	}
}

func TestRequired(t *testing.T) {
	got := strings.Join(Required(Serve), " ")
	want := "TG_BOT_TOKEN REPLICATE_API_TOKEN REPLICATE_MODEL S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY PUBLIC_URL TG_WEBHOOK_SECRET"
	if got != want {
		t.Errorf("Required(Serve) = %s\nwant %s", got, want)
	}
	if got := strings.Join(Required(Run), " "); got != "TG_BOT_TOKEN REPLICATE_API_TOKEN REPLICATE_MODEL" {
		t.Errorf("Required(Run) = %s", got)
	}
	// fn-callback serves Replicate's webhook alone: Telegram's secret is
	// not its business, and not in its environment.
	want = "TG_BOT_TOKEN REPLICATE_API_TOKEN REPLICATE_MODEL S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY PUBLIC_URL"
	if got := strings.Join(Required(Callback), " "); got != want {
		t.Errorf("Required(Callback) = %s\nwant %s", got, want)
	}
}

func TestCallbackWithoutTelegramSecret(t *testing.T) {
	e := serveEnv()
	delete(e, "TG_WEBHOOK_SECRET")
	if _, err := Load(env(e), Serve); err == nil || !strings.Contains(err.Error(), "TG_WEBHOOK_SECRET") {
		t.Fatalf("Serve without TG_WEBHOOK_SECRET: %v", err)
	}
	c, err := Load(env(e), Callback)
	if err != nil {
		t.Fatalf("Callback without TG_WEBHOOK_SECRET: %v", err)
	}
	if c.PublicURL == "" || c.S3Bucket == "" || c.TelegramWebhookSecret != "" {
		t.Errorf("Callback loaded PUBLIC_URL %q, S3_BUCKET %q, secret %q", c.PublicURL, c.S3Bucket, c.TelegramWebhookSecret)
	}
}

// The full table lives in docs/configuration.md (the README keeps the
// settings a newcomer needs and links to it).
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if !strings.Contains(string(readme), "| `"+v.Name+"` |") {
			t.Errorf("docs/configuration.md's table lacks %s", v.Name)
		}
	}
}

func effectsEnv(effects string) map[string]string {
	e := serveEnv()
	delete(e, "REPLICATE_MODEL")
	e["EFFECTS"] = effects
	return e
}

// The example: two effects, titles in two languages, inputs, send.
const twoEffects = `[{"id":"upscale","title":{"en":"Upscale ×4","ru":"Увеличить ×4"},"model":"nightmareai/real-esrgan:f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa","input":{"scale":4},"send":"both"},
 {"id":"nobg","title":"Remove background","description":{"en":"A transparent PNG","ru":"Прозрачный PNG"},"model":"cjwbw/rembg","image_field":"img","send":"document"}]`

func TestEffects(t *testing.T) {
	c, err := Load(env(effectsEnv(twoEffects)), Serve)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Effects) != 2 {
		t.Fatalf("%d effects", len(c.Effects))
	}
	up, nobg := c.Effects[0], c.Effects[1]
	if up.ID != "upscale" || up.Title.In("ru") != "Увеличить ×4" || up.Title.In("de") != "Upscale ×4" || up.Input["scale"] != float64(4) ||
		up.ImageField != "image" || up.Send != pipeline.AsBoth || !strings.HasPrefix(up.Model, "nightmareai/real-esrgan:") {
		t.Errorf("upscale = %+v", up)
	}
	if nobg.ImageField != "img" || nobg.Send != pipeline.AsDocument || nobg.Description.In("ru") != "Прозрачный PNG" || nobg.Title.In("ru") != "Remove background" {
		t.Errorf("nobg = %+v", nobg)
	}
}

func TestEffectsFileAndDefaults(t *testing.T) {
	e := effectsEnv("")
	delete(e, "EFFECTS")
	e["EFFECTS_FILE"] = "effects.json"
	e["RESULT_AS"] = "document"
	e["DEFAULT_EFFECT"] = "nobg"
	e["BOT_ABOUT"] = `{"en":"Photos, better.","ru":"Фото, только лучше."}`
	readFile := func(name string) ([]byte, error) {
		if name != "effects.json" {
			return nil, os.ErrNotExist
		}
		return []byte(`[{"id":"nobg","title":"Remove background","model":"cjwbw/rembg"},{"id":"up","title":"Up","model":"a/b","send":"photo"}]`), nil
	}
	c, err := Source{Getenv: env(e), ReadFile: readFile}.Load(Serve)
	if err != nil {
		t.Fatal(err)
	}
	if c.Effects[0].Send != pipeline.AsDocument || c.Effects[1].Send != pipeline.AsPhoto || c.DefaultEffect != "nobg" || c.About.In("ru") != "Фото, только лучше." {
		t.Errorf("effects %+v, default %q, about %v", c.Effects, c.DefaultEffect, c.About)
	}
	// Without EFFECTS, RESULT_AS is the single effect's.
	s := serveEnv()
	s["RESULT_AS"] = "both"
	if c, err := Load(env(s), Serve); err != nil || len(c.Effects) != 1 || c.Effects[0].Send != pipeline.AsBoth || c.Effects[0].Title.In("en") != "Enhance" {
		t.Errorf("single effect %+v, %v", c.Effects, err)
	}
}

func TestEffectsErrorsNameTheEffect(t *testing.T) {
	for name, tc := range map[string]struct {
		effects string
		extra   map[string]string
		want    []string
	}{
		"unknown field": {`[{"id":"a","title":"A","model":"o/n","colour":"red"}]`, nil, []string{`EFFECTS "a": unknown field "colour"`}},
		"duplicate id":  {`[{"id":"a","title":"A","model":"o/n"},{"id":"a","title":"B","model":"o/m"}]`, nil, []string{`id "a" is used twice`}},
		"bad send":      {`[{"id":"a","title":"A","model":"o/n","send":"fax"}]`, nil, []string{`EFFECTS "a": send: "fax" is not photo, document or both`}},
		"no title":      {`[{"id":"a","model":"o/n"}]`, nil, []string{`EFFECTS "a": no "title"`}},
		"bad id":        {`[{"id":"Up-Scale","title":"A","model":"o/n"}]`, nil, []string{`id "Up-Scale" is not 1-32 of a-z`}},
		"no id":         {`[{"title":"A","model":"o/n"}]`, nil, []string{`EFFECTS[0]: no "id"`}},
		"bad model":     {`[{"id":"a","title":"A","model":"nope"}]`, nil, []string{`EFFECTS "a": model: "nope" is not owner/name`}},
		"bad input":     {`[{"id":"a","title":"A","model":"o/n","input":[1]}]`, nil, []string{`EFFECTS "a": input is not a JSON object`}},
		"title types":   {`[{"id":"a","title":{"english":"A"},"model":"o/n"}]`, nil, []string{`"english" is not a language code`}},
		"not a list":    {`{"id":"a"}`, nil, []string{`EFFECTS: not a JSON array of effects`}},
		"empty":         {`[]`, nil, []string{`EFFECTS: is an empty list`}},
		"both sources":  {`[{"id":"a","title":"A","model":"o/n"}]`, map[string]string{"EFFECTS_FILE": "x.json"}, []string{`EFFECTS: and EFFECTS_FILE are both set`}},
		"with model":    {`[{"id":"a","title":"A","model":"o/n"}]`, map[string]string{"REPLICATE_MODEL": "o/n"}, []string{`REPLICATE_MODEL: is set together with EFFECTS`}},
		"default":       {`[{"id":"a","title":"A","model":"o/n"}]`, map[string]string{"DEFAULT_EFFECT": "b"}, []string{`DEFAULT_EFFECT: "b" is not one of the effects (a)`}},
	} {
		e := effectsEnv(tc.effects)
		for k, v := range tc.extra {
			e[k] = v
		}
		_, err := Load(env(e), Serve)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not say %q:\n%s", name, w, err)
			}
		}
	}
	e := effectsEnv("")
	delete(e, "EFFECTS")
	e["EFFECTS_FILE"] = "/nonexistent/effects.json"
	if _, err := Load(env(e), Serve); err == nil || !strings.Contains(err.Error(), "EFFECTS_FILE: cannot read /nonexistent/effects.json") {
		t.Errorf("missing file: %v", err)
	}
}
