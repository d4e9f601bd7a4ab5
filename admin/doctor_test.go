package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/pipeline"
)

func doctor(e *testenv.Env) (bool, string) {
	var out bytes.Buffer
	ok := admin.Doctor(context.Background(), func(k string) string { return e.Vars[k] }, config.Serve, app.Connect, &out)
	return ok, out.String()
}

func TestDoctorOnAHealthyDeployment(t *testing.T) {
	// Healthy includes private: a bot open to everyone is a WARN.
	e := testenv.New(t, func(v map[string]string) { v["ALLOWED_USERS"] = "12345" })
	if err := admin.Setup(context.Background(), e.Bot, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	ok, out := doctor(e)
	if !ok || strings.Contains(out, "FAIL") || strings.Contains(out, "WARN") {
		t.Fatalf("doctor on a healthy deployment:\n%s", out)
	}
	for _, want := range []string{"OK    configuration", "OK    bucket", "OK    lifecycle", "OK    conditional writes", "OK    telegram token: bot @",
		"OK    telegram webhook: " + e.URL, "OK    webhook secret: updates without the secret token are refused (401)",
		"OK    replicate token", `OK    model: acme/photo-restore takes "image"`, "OK    replicate webhook secret"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
}

// ignoringConditions is a storage that drops If-None-Match, as some
// S3-compatible servers do.
func ignoringConditions(t *testing.T) string {
	target, _ := url.Parse(miniotest.Start(t).Endpoint)
	p := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("If-None-Match")
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDoctorFailures(t *testing.T) {
	set := func(k, v string) func(e *testenv.Env) { return func(e *testenv.Env) { e.Vars[k] = v } }
	cases := []struct {
		name    string
		noSetup bool
		before  func(e *testenv.Env)
		want    string
	}{
		{"missing variable", false, set("TG_WEBHOOK_SECRET", ""), "FAIL  configuration: TG_WEBHOOK_SECRET: missing"},
		{"malformed variable", false, set("REPLICATE_INPUT", "[1]"), "FAIL  configuration: REPLICATE_INPUT"},
		{"missing bucket", false, set("S3_BUCKET", "no-such-bucket-doctor"), "FAIL  bucket"},
		{"lifecycle rules missing", false, func(e *testenv.Env) {
			e.Store.PutLifecycle(context.Background(), []pipeline.LifecycleRule{{ID: "photobot-tasks", Prefix: "tasks/", Days: 1}})
		}, "WARN  lifecycle: no rule expires updates/ after 2d"},
		{"conditional writes ignored", false, func(e *testenv.Env) { e.Vars["S3_ENDPOINT_URL"] = ignoringConditions(e.T.(*testing.T)) }, "FAIL  conditional writes"},
		{"bad bot token", false, set("TG_BOT_TOKEN", "1:nope"), "FAIL  telegram token"},
		{"webhook not set", true, nil, "FAIL  telegram webhook: not set"},
		{"webhook elsewhere", false, set("PUBLIC_URL", "https://other.example.com"), "FAIL  telegram webhook: points at"},
		{"secret not enforced", false, func(e *testenv.Env) {
			e.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
		}, "FAIL  webhook secret: an update without the secret token got 200"},
		{"webhook errors", false, func(e *testenv.Env) {
			e.TG.SetWebhookInfo(120, "Wrong response from the webhook: 502 Bad Gateway", time.Now())
		}, "WARN  last webhook error: Wrong response from the webhook: 502 Bad Gateway"},
		{"bad replicate token", false, set("REPLICATE_API_TOKEN", "r8_nope"), "FAIL  replicate token"},
		{"model without the image input", false, set("REPLICATE_IMAGE_FIELD", "input_image"), `FAIL  model: acme/photo-restore has no input "input_image"`},
		{"unknown model", false, set("REPLICATE_MODEL", "acme/nothing"), "FAIL  model: acme/nothing"},
		{"webhook secret unavailable", false, func(e *testenv.Env) { e.RP.FailAlways("secret", 500, `{"status":500}`) }, "FAIL  replicate webhook secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t)
			if !tc.noSetup {
				if err := admin.Setup(context.Background(), e.Bot, &bytes.Buffer{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.before != nil {
				tc.before(e)
			}
			ok, out := doctor(e)
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if wantFail := strings.HasPrefix(tc.want, "FAIL"); ok == wantFail {
				t.Errorf("doctor reported ok=%v:\n%s", ok, out)
			}
		})
	}
}
