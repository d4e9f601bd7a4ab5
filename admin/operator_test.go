package admin_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// localVars is the environment of photobot run against the fakes.
func localVars(t *testing.T, change map[string]string) func(string) string {
	t.Helper()
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	vars := map[string]string{"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
		"REPLICATE_MODEL": "acme/photo-restore", "TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL, "DATA_DIR": t.TempDir()}
	for k, v := range change {
		vars[k] = v
	}
	return func(k string) string { return vars[k] }
}

func runDoctor(t *testing.T, mode config.Mode, getenv func(string) string) (bool, string) {
	t.Helper()
	var out bytes.Buffer
	ok := admin.Doctor(context.Background(), getenv, mode, app.Connect, &out)
	return ok, out.String()
}

// lines are the report's lines of one check (its hints left out).
func lines(out, check string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && strings.HasPrefix(l[6:], check+":") {
			got = append(got, l)
		}
	}
	return got
}

// Doctor says in one line who may use the bot.
func TestDoctorSaysWhoMayUseTheBot(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{nil, "WARN  access: everyone: anyone who finds the bot spends your Replicate credit (up to 50 photos a day each)"},
		{map[string]string{"ALLOWED_USERS": "12345, @anna"}, "OK    access: allowed: 2 users (12345, @anna)"},
		{map[string]string{"ALLOWED_USERS": "12345"}, "OK    access: allowed: 1 user (12345)"},
		{map[string]string{"ALLOWED_USERS": "7,@boss", "ADMIN_USERS": "@Boss,7"}, "OK    access: admins only (7, @boss)"},
		// A price makes everyone pay, after the free photos of the day.
		{map[string]string{"PRICE_STARS": "5"}, "OK    access: everyone, paying: 5 Stars a photo after 1 free a day, up to 50 photos a day each"},
		{map[string]string{"PRICE_STARS": "1", "FREE_PER_DAY": "0", "ALLOWED_USERS": "7,8", "ADMIN_USERS": "7"},
			"OK    access: allowed: 2 users (7, 8), paying: 1 Star a photo, up to 50 photos a day each; admins free"},
	} {
		_, out := runDoctor(t, config.Preflight, localVars(t, tc.vars))
		got := lines(out, "access")
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%v: access lines %q, want [%q]\n%s", tc.vars, got, tc.want, out)
		}
		if strings.HasPrefix(tc.want, "WARN") && !strings.Contains(out, "hint: set ALLOWED_USERS") {
			t.Errorf("%v: the warning says not what to do:\n%s", tc.vars, out)
		}
	}
}

// A @username can change hands: doctor tries to look each one up, and
// says plainly when Telegram cannot tell (it tells ids of public chats
// only) and where the id shows up instead. Among the admins it warns.
func TestDoctorLooksUpUsernames(t *testing.T) {
	ok, out := runDoctor(t, config.Run, localVars(t, map[string]string{"ALLOWED_USERS": "@anna,12345", "ADMIN_USERS": "@boss"}))
	if !ok {
		t.Errorf("a username is no failure:\n%s", out)
	}
	for _, want := range []string{
		"WARN  username @boss: in ADMIN_USERS cannot be looked up",
		"hint: the log shows the id (user_id) when @boss writes to the bot; put it in ADMIN_USERS instead",
		"OK    username @anna: in ALLOWED_USERS cannot be looked up",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := len(lines(out, "username @anna")) + len(lines(out, "username @boss")); n != 2 {
		t.Errorf("%d username lines, want one per name:\n%s", n, out)
	}
}

// A missing variable is to be set; a malformed one corrected: the hints
// say which.
func TestDoctorHintsFitTheProblem(t *testing.T) {
	_, out := runDoctor(t, config.Run, localVars(t, map[string]string{"TG_BOT_TOKEN": "", "REPLICATE_MODEL": "",
		"PREDICTION_DEADLINE": "soon", "EFFECTS": `[{"id":"a","title":"A","model":"o/n"},{"id":"a","title":"B","model":"o/m"}]`}))
	for check, hint := range map[string]string{
		"FAIL  configuration: TG_BOT_TOKEN: missing":                 "hint: set it in the environment photobot runs with",
		"FAIL  configuration: PREDICTION_DEADLINE: \"soon\" is not":  "hint: correct the value of PREDICTION_DEADLINE as said",
		"FAIL  configuration: EFFECTS \"a\": id \"a\" is used twice": "hint: correct the effects as said",
	} {
		i := strings.Index(out, check)
		if i < 0 {
			t.Errorf("output lacks %q:\n%s", check, out)
			continue
		}
		next := strings.SplitN(out[i:], "\n", 3)[1]
		if !strings.HasPrefix(strings.TrimSpace(next), hint) {
			t.Errorf("%s: hint %q, want %q", check, next, hint)
		}
	}
}

// Doctor changes nothing: a DATA_DIR that does not exist yet is not
// created, and one that cannot be made says what to do.
func TestDoctorCreatesNoDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	ok, out := runDoctor(t, config.Run, localVars(t, map[string]string{"DATA_DIR": dir}))
	if !ok || !strings.Contains(out, "OK    storage: local directory "+dir+" (does not exist yet: photobot run creates it)") {
		t.Errorf("doctor with a new DATA_DIR:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("doctor created %s (%v)", dir, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok, out = runDoctor(t, config.Run, localVars(t, map[string]string{"DATA_DIR": filepath.Join(file, "data")}))
	if ok || !strings.Contains(out, "FAIL  storage: DATA_DIR "+filepath.Join(file, "data")+" cannot be used: not a directory") ||
		!strings.Contains(out, "hint: set DATA_DIR to a directory this user may write, or S3_BUCKET") {
		t.Errorf("doctor with a DATA_DIR under a file:\n%s", out)
	}
}

// One line per check: an unreachable Telegram is one FAIL of the token,
// not an OK and a FAIL.
func TestDoctorOneLinePerCheck(t *testing.T) {
	_, out := runDoctor(t, config.Preflight, localVars(t, map[string]string{"TELEGRAM_API_URL": closed}))
	if got := lines(out, "telegram token"); len(got) != 1 || !strings.HasPrefix(got[0], "FAIL") {
		t.Errorf("telegram token lines %q:\n%s", got, out)
	}
}

// photobot run makes every check before it gives up, and an unreachable
// Telegram is "cannot check", not a bad token.
func TestReadyMakesEveryCheck(t *testing.T) {
	for _, tc := range []struct {
		vars        map[string]string
		want, never string
	}{
		{map[string]string{"TELEGRAM_API_URL": closed}, "cannot check the bot token (see above)", "does not work"},
		{map[string]string{"TG_BOT_TOKEN": "1:revoked"}, "the bot token does not work (see above)", "cannot check"},
		{map[string]string{"TELEGRAM_API_URL": closed, "REPLICATE_IMAGE_FIELD": "photo"},
			"cannot check the bot token; Replicate or a model is not ready (see above)", "does not work"},
	} {
		cfg, err := config.Load(localVars(t, tc.vars), config.Run)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, err = admin.Ready(context.Background(), app.Connect(cfg), false, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.never) {
			t.Errorf("%v: error %v, want %q", tc.vars, err, tc.want)
		}
		// Replicate was checked although Telegram failed.
		if !strings.Contains(out.String(), "OK    replicate token") {
			t.Errorf("%v: Replicate not checked:\n%s", tc.vars, &out)
		}
	}
}
