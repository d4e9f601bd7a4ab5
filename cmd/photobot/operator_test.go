package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// make run with Telegram unreachable: the report says why, the error
// says the token could not be checked (not that it is wrong), and
// Replicate was checked too.
func TestRunWithTelegramUnreachable(t *testing.T) {
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	vars := map[string]string{"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
		"REPLICATE_MODEL": "acme/photo-restore", "TELEGRAM_API_URL": "http://127.0.0.1:1", "REPLICATE_API_URL": rp.URL,
		"DATA_DIR": t.TempDir(), "ALLOWED_USERS": "1"}
	var errOut bytes.Buffer
	err := Main(context.Background(), []string{"run"}, func(k string) string { return vars[k] }, &bytes.Buffer{}, &errOut)
	if err == nil || !strings.Contains(err.Error(), "cannot check the bot token") || strings.Contains(err.Error(), "does not work") {
		t.Errorf("err = %v, want 'cannot check the bot token'", err)
	}
	for _, want := range []string{"hint: this machine cannot reach http://127.0.0.1:1", "OK    replicate token", `OK    model: acme/photo-restore takes "image"`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &errOut)
		}
	}
}

// A wrong flag is one line that says where help is, and exit status 2;
// not the whole usage.
func TestWrongFlagIsOneLine(t *testing.T) {
	var out, errOut bytes.Buffer
	err := Main(context.Background(), []string{"run", "--verbose"}, func(string) string { return "" }, &out, &errOut)
	if exitCode(err) != 2 {
		t.Errorf("exit %d, want 2", exitCode(err))
	}
	if want := "run: flag provided but not defined: -verbose (photobot run -h shows how to call it)"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	if errOut.Len() != 0 || out.Len() != 0 {
		t.Errorf("printed more than the error:\n%s%s", &out, &errOut)
	}
}

// doctor's default mode is run: -h marks what run needs, and says what a
// deployment needs besides.
func TestDoctorHelpMarksWhatItsDefaultNeeds(t *testing.T) {
	var errOut bytes.Buffer
	err := Main(context.Background(), []string{"doctor", "-h"}, func(string) string { return "" }, &bytes.Buffer{}, &errOut)
	if exitCode(err) != 0 {
		t.Fatal(err)
	}
	help := errOut.String()
	if !strings.Contains(help, "* TG_BOT_TOKEN") || strings.Contains(help, "* PUBLIC_URL") || strings.Contains(help, "* TG_WEBHOOK_SECRET") {
		t.Errorf("doctor -h marks the wrong variables:\n%s", help)
	}
	if !strings.Contains(help, "-mode serve checks a deployment and also needs S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, PUBLIC_URL, TG_WEBHOOK_SECRET") {
		t.Errorf("doctor -h does not say what a deployment needs:\n%s", help)
	}
	for _, v := range []string{"PRICE_STARS", "RESULT_HOSTS", "REPLICATE_TITLE"} {
		if !strings.Contains(help, v) {
			t.Errorf("doctor -h lacks %s", v)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := Main(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if v := out.String(); !strings.HasPrefix(v, "photobot ") || !strings.Contains(v, ", go1.") {
		t.Errorf("version = %q", v)
	}
}

// An unusable DATA_DIR says which, why, and what to do.
func TestRunWithUnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TG_BOT_TOKEN": "1:a", "REPLICATE_API_TOKEN": "r8", "REPLICATE_MODEL": "o/m", "DATA_DIR": filepath.Join(file, "data")}
	err := Main(context.Background(), []string{"run"}, func(k string) string { return vars[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	want := "DATA_DIR " + filepath.Join(file, "data") + " cannot be used: not a directory: set DATA_DIR to a directory this user may write"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v\nwant %q...", err, want)
	}
}

// serve with a bucket it cannot reach starts (healthz answers), and logs
// at once what is wrong with the bucket and what to do, rather than at
// the first update.
func TestServeSaysAtStartThatTheBucketIsUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	vars := map[string]string{
		"TG_BOT_TOKEN": "1:a", "REPLICATE_API_TOKEN": "r8", "REPLICATE_MODEL": "o/m",
		"S3_BUCKET": "bkt", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "S3_ENDPOINT_URL": "http://127.0.0.1:1",
		"PUBLIC_URL": "https://example.com", "TG_WEBHOOK_SECRET": "x", "PORT": strconv.Itoa(port),
		"REPLICATE_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &testenv.Logs{}
	go func() {
		done <- Main(ctx, []string{"serve"}, func(k string) string { return vars[k] }, &bytes.Buffer{}, logs)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "healthz", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	waitFor(t, "the bucket's problem in the log", func() bool {
		return strings.Contains(logs.String(), "the bucket cannot be used")
	})
	if l := logs.String(); !strings.Contains(l, "cannot reach S3_ENDPOINT_URL http://127.0.0.1:1") || !strings.Contains(l, "check S3_ENDPOINT_URL") {
		t.Errorf("the log does not say why and what to do:\n%s", l)
	}
}

// ADMIN_USERS by @username is warned about at start.
func TestStartWarnsAboutAdminUsernames(t *testing.T) {
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	vars := map[string]string{"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
		"REPLICATE_MODEL": "acme/photo-restore", "TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL,
		"DATA_DIR": t.TempDir(), "ADMIN_USERS": "@boss,42", "ALLOWED_USERS": "1"}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.Logs{}
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"run"}, func(k string) string { return vars[k] }, &bytes.Buffer{}, logs)
	}()
	waitFor(t, "the bot to run", func() bool { return strings.Contains(logs.String(), "running as @") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "ADMIN_USERS names users by @username") || !strings.Contains(l, `"usernames":"@boss"`) {
		t.Errorf("no warning about @boss:\n%s", l)
	}
}

// A deploy's dry run checks the configuration as photobot does at start,
// with no network call: a malformed effects list fails, a good one passes,
// and neither Telegram nor Replicate is asked.
func TestDoctorOffline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no call expected", http.StatusTeapot)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		effects string
		ok      bool
		want    string
	}{
		{`[{"id": "upscale", "title": "Up", "model": "acme/up"}]`, true, "all checks passed"},
		{`[{"id": "upscale", "title": "Up", "model": "acme/up"},`, false, "FAIL  configuration: EFFECTS"},
	} {
		vars := map[string]string{"TG_BOT_TOKEN": "1:x", "REPLICATE_API_TOKEN": "r8_x", "EFFECTS": tc.effects,
			"TELEGRAM_API_URL": srv.URL, "REPLICATE_API_URL": srv.URL}
		var out bytes.Buffer
		err := Main(context.Background(), []string{"doctor", "-mode", "preflight", "-offline"}, func(k string) string { return vars[k] }, &out, &bytes.Buffer{})
		if (err == nil) != tc.ok || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s: err %v, output lacks %q:\n%s", tc.effects, err, tc.want, &out)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("-offline made %d network calls", n)
	}
}
