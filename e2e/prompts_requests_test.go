package e2e_test

import (
	"context"
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
)

// What a restyle costs, counted at the services as TestRequestsPerPhoto
// counts a photo: the menu, the press that asks, the reply, the result;
// with progress, the start event too. docs/costs.md multiplies these.
func TestRequestsPerRestyle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		progress  bool
		s3        map[string]int
		telegram  []string
		functions int
	}{
		{name: "asked, no progress", s3: map[string]int{"PUT": 11, "GET": 6, "DELETE": 2},
			telegram: []string{"answerCallbackQuery", "download", "editMessageText", "getFile", "sendMessage", "sendMessage", "sendPhoto"}, functions: 4},
		{name: "asked, with progress", progress: true, s3: map[string]int{"PUT": 14, "GET": 9, "DELETE": 2},
			telegram: []string{"answerCallbackQuery", "download", "editMessageText", "editMessageText", "getFile", "sendMessage", "sendMessage", "sendPhoto"}, functions: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			effects := restyleEffects
			if !tc.progress {
				effects = strings.Replace(effects, `,"progress":true`, "", 1)
			}
			h := newHarness(t, false, func(v map[string]string) {
				delete(v, "REPLICATE_MODEL")
				delete(v, "REPLICATE_INPUT")
				v["EFFECTS"] = effects
			})
			h.RP.SetModel("black-forest-labs", "flux-kontext-pro", "", "input_image", "prompt", "output_format")
			h.RP.ImageField = "input_image"
			h.RP.QueueTime = 300 * time.Millisecond // the start event after the task's save
			if err := admin.Setup(context.Background(), h.Bot, io.Discard); err != nil {
				t.Fatal(err)
			}
			h.S3.Clear()
			before, tgBefore := len(h.S3.Requests("", "")), len(h.TG.Calls(""))
			p := h.NewPhoto(4300)
			p.Caption, p.Language = "", "en"
			user := fake.User{ID: p.ChatID, LanguageCode: "en"}
			h.deliver(h.Update(p))
			menu := botMessage(t, h.Env, p.ChatID, "e:restyle")
			if _, err := h.TG.DeliverUpdate(h.TG.Press(t, p.ChatID, menu.ID, "e:restyle", user)); err != nil {
				t.Fatal(err)
			}
			question := h.TG.WaitCalls(t, "sendMessage", 2, wait)[1]
			if _, err := h.TG.DeliverUpdate(h.TG.Reply(t, p.ChatID, messageID(t, question), user, map[string]any{"text": "anime"})); err != nil {
				t.Fatal(err)
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
				keys = append(keys, r.Method+" "+r.Key)
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
			for _, l := range h.Logs.Lines() {
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
			t.Logf("per restyle: S3 %v; Bot API %v; %d function calls; 1 prediction", got, calls, fn)
		})
	}
}
