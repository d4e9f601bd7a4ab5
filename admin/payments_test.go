package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/internal/testenv"
)

// setAllowedUpdates points the webhook at the same place with other
// allowed_updates, as a deployment set up by an older photobot has.
func setAllowedUpdates(t *testing.T, e *testenv.Env, allowed string) {
	t.Helper()
	wh := e.TG.Webhook()
	body := `{"url":"` + wh.URL + `","secret_token":"` + wh.SecretToken + `","allowed_updates":` + allowed + `}`
	resp, err := http.Post(e.TG.URL+"/bot"+testenv.BotToken+"/setWebhook", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("setWebhook: %s", resp.Status)
	}
}

// A webhook set before payments lacks pre_checkout_query: harmless while
// nothing costs Stars, a failure (every payment would time out) once
// something does. setup mends it.
func TestDoctorChecksPreCheckoutWhenPaymentsAreOn(t *testing.T) {
	const lacks = "FAIL  telegram webhook: allowed_updates [message callback_query] lacks pre_checkout_query"
	for _, tc := range []struct {
		name     string
		vars     map[string]string
		wantFail bool
	}{
		{"payments off", nil, false},
		{"PRICE_STARS", map[string]string{"PRICE_STARS": "10"}, true},
		// A price on an effect waits for PRICE_STARS: nothing costs Stars.
		{"a priced effect, payments off", map[string]string{
			"EFFECTS": `[{"id":"up","title":"Up","model":"acme/photo-restore","image_field":"image","price":5}]`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t, func(v map[string]string) {
				v["ALLOWED_USERS"] = "12345"
				for k, val := range tc.vars {
					v[k] = val
				}
				if v["EFFECTS"] != "" {
					delete(v, "REPLICATE_MODEL")
					delete(v, "REPLICATE_INPUT")
				}
			})
			if err := admin.Setup(context.Background(), e.Bot, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			setAllowedUpdates(t, e, `["message","callback_query"]`)
			ok, out := doctor(e)
			if got := strings.Contains(out, lacks); got != tc.wantFail || ok == tc.wantFail {
				t.Fatalf("doctor (ok %v), want the failure %v:\n%s", ok, tc.wantFail, out)
			}
			if tc.wantFail && !strings.Contains(out, "run `photobot setup`") {
				t.Errorf("the failure does not say what to do:\n%s", out)
			}
			if !tc.wantFail && strings.Contains(out, "pre_checkout_query") {
				t.Errorf("doctor speaks of pre_checkout_query with payments off:\n%s", out)
			}
			// setup sets it again; doctor is then content.
			if err := admin.Setup(context.Background(), e.Bot, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			if ok, out := doctor(e); !ok || strings.Contains(out, "FAIL") {
				t.Errorf("doctor after setup:\n%s", out)
			}
		})
	}
}
