package config

import (
	"errors"
	"os"
	"strings"
	"testing"
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
}

func TestREADMEDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if !strings.Contains(string(readme), "| `"+v.Name+"` |") {
			t.Errorf("README's configuration table lacks %s", v.Name)
		}
	}
}
