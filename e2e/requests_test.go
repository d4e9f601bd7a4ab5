package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// The requests one photo costs, counted at the services: what the cost
// section of the README multiplies by the price list. The counts are
// exact, so a change that adds a request fails here and must say so.
func TestRequestsPerPhoto(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		effects   string
		s3        map[string]int // requests by method, the model's read of the photo included
		telegram  []string       // Bot API calls photobot makes (not the webhook answers)
		functions int            // webhook calls: fn-handler and fn-callback invocations
		paid      bool           // 10 Stars held from a balance topped up before
	}{
		{name: "one effect (the spec's flow)", s3: map[string]int{"PUT": 9, "GET": 5, "DELETE": 2},
			telegram: []string{"download", "getFile", "sendPhoto"}, functions: 2},
		{name: "a menu, one press", effects: menuEffects, s3: map[string]int{"PUT": 9, "GET": 5, "DELETE": 2},
			telegram: []string{"answerCallbackQuery", "download", "editMessageText", "editMessageText", "getFile", "sendDocument", "sendPhoto"}, functions: 3},
		// The price held (GET, PUT accounts/) and kept once delivered (GET,
		// PUT accounts/).
		{name: "a paid photo", paid: true, s3: map[string]int{"PUT": 11, "GET": 7, "DELETE": 2},
			telegram: []string{"download", "getFile", "sendPhoto"}, functions: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, func(v map[string]string) {
				if tc.paid {
					v["PRICE_STARS"], v["FREE_PER_DAY"] = "10", "0"
				}
				if tc.effects != "" {
					delete(v, "REPLICATE_MODEL")
					delete(v, "REPLICATE_INPUT")
					v["EFFECTS"] = tc.effects
				}
			})
			h.RP.SetModel("acme", "rembg", "", "image")
			if err := admin.Setup(context.Background(), h.Bot, io.Discard); err != nil {
				t.Fatal(err)
			}
			if tc.paid {
				topUp(t, h.Env, 4200, 50)
			}
			h.S3.Clear()
			logsBefore := len(h.Logs.Lines())
			before := len(h.S3.Requests("", ""))
			tgBefore := len(h.TG.Calls(""))
			p := h.NewPhoto(4200)
			p.Caption = ""
			h.deliver(h.Update(p))
			if tc.effects != "" {
				menu := botMessage(t, h.Env, p.ChatID, "e:upscale")
				var press map[string]any
				if err := json.Unmarshal(h.TG.Press(t, p.ChatID, menu.ID, "e:upscale", fake.User{ID: p.ChatID}), &press); err != nil {
					t.Fatal(err)
				}
				h.deliver(press)
			}
			h.settle(30 * time.Second)
			h.Eventually("the task and the photo deleted", wait, func() bool {
				return len(h.Keys("tasks/")) == 0 && len(h.Keys("images/")) == 0
			})
			got := map[string]int{}
			var keys []string
			for _, r := range h.S3.Requests("", "")[before:] {
				if r.Method == http.MethodGet && r.Key == "" {
					continue // the test's own listing
				}
				got[r.Method]++
				keys = append(keys, r.Method+" "+strings.SplitN(r.Key, "/", 2)[0]+"/")
			}
			var calls []string
			for _, c := range h.TG.Calls("")[tgBefore:] {
				if c.Header.Get("X-Fake-Webhook-Reply") == "" && c.Method != "sendChatAction" {
					calls = append(calls, c.Method)
				}
			}
			sort.Strings(calls)
			if fmt.Sprint(got) != fmt.Sprint(tc.s3) {
				t.Errorf("S3 requests %v, want %v:\n  %s", got, tc.s3, strings.Join(keys, "\n  "))
			}
			if !slices.Equal(calls, tc.telegram) {
				t.Errorf("Bot API calls %v, want %v", calls, tc.telegram)
			}
			fn := 0
			for _, l := range h.Logs.Lines()[logsBefore:] {
				if l["msg"] == "request" {
					fn++
				}
			}
			if fn != tc.functions {
				t.Errorf("%d webhook calls, want %d", fn, tc.functions)
			}
			if n := len(h.RP.Predictions()); n != 1 {
				t.Errorf("%d predictions", n)
			}
			t.Logf("per photo: S3 %v; Bot API %v; %d function calls; 1 prediction", got, calls, fn)
		})
	}
}

// topUp buys a pack of Stars for user, as /buy's button and a payment do.
func topUp(t *testing.T, e *testenv.Env, user int64, stars int) {
	t.Helper()
	command(t, e, user, "en", "/buy")
	menu := botMessage(t, e, user, fmt.Sprint("b:", stars))
	deliver(t, e, e.TG.Press(t, user, menu.ID, fmt.Sprint("b:", stars), fake.User{ID: user, LanguageCode: "en"}))
	inv := e.TG.WaitInvoices(t, 1, wait)[0]
	if p := e.TG.Pay(t, inv, fake.User{LanguageCode: "en"}, fake.ViaWebhook); !p.Paid {
		t.Fatalf("top-up not paid: %+v", p)
	}
	told(t, e, user, "Payment received")
}
