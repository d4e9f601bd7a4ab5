package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/faultproxy"
	"github.com/photobot/photobot/internal/testenv"
)

// TestLogHygiene runs the flows that log the most (a photo end to end, a
// refused URL uploaded instead, a failed prediction, forged webhooks,
// transient failures and stalls of each dependency) and reads every line
// the bot logged: each is one JSON object with "level" and "msg", and none
// holds a token, a webhook secret, the AWS secret key, a presigned URL or a
// Telegram file URL.
func TestLogHygiene(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	e := h.Env
	chat := int64(5000)
	photo := func() map[string]any {
		chat++
		p := e.NewPhoto(chat)
		p.Language = "en"
		return e.Update(p)
	}
	// sent waits until the chat got n results or messages besides "got it".
	sent := func(what string, n int) {
		t.Helper()
		e.Eventually(what, wait, func() bool {
			o := h.outcome(chat)
			return len(o.results)+len(o.messages) >= n
		})
	}

	// The happy path.
	h.deliver(photo())
	sent("a result", 1)

	// Telegram cannot fetch the result's URL: it is uploaded.
	e.TG.FailNext("sendPhoto", 400, "Bad Request: failed to get HTTP URL content")
	h.deliver(photo())
	sent("an uploaded result", 1)

	// The model fails.
	e.RP.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return fake.StatusFailed, nil, "CUDA out of memory"
	})
	h.deliver(photo())
	sent("the model's error", 1)
	e.RP.SetModelFunc(nil)

	// Forged webhooks.
	for _, secret := range []string{"", "wrong", testenv.WebhookSecret + "x"} {
		if r := e.PostUpdate(photo(), secret); r.Status != http.StatusUnauthorized {
			t.Errorf("update with secret %q: %d", secret, r.Status)
		}
	}
	forged := []byte(`{"id":"abc123","status":"succeeded","output":"https://evil.example/x.png"}`)
	now := time.Now()
	for name, hdr := range map[string]map[string]string{
		"unsigned": {"webhook-id": "msg_1", "webhook-timestamp": fmt.Sprint(now.Unix())},
		"wrong":    {"webhook-id": "msg_1", "webhook-timestamp": fmt.Sprint(now.Unix()), "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJlIGF0IGFsbCBidXQgbG9uZyBlbm91Z2g="},
		"stale": {"webhook-id": "msg_1", "webhook-timestamp": fmt.Sprint(now.Add(-time.Hour).Unix()),
			"webhook-signature": e.RP.Sign("msg_1", now.Add(-time.Hour), forged)},
	} {
		if r := e.Post(httpapi.ReplicatePath, forged, hdr); r.Status != http.StatusUnauthorized {
			t.Errorf("%s Replicate webhook: %d", name, r.Status)
		}
	}
	// Signed, but for no task, and with an id that is no id.
	if r := signed(e, []byte(`{"id":"zzzz9999","status":"succeeded"}`), now, true); r.Status != http.StatusNotFound {
		t.Errorf("unknown prediction: %d", r.Status)
	}
	if r := signed(e, []byte(`{"id":"../tasks/x","status":"succeeded"}`), now, true); r.Status != http.StatusBadRequest {
		t.Errorf("invalid prediction id: %d", r.Status)
	}

	// Transient failures and stalls of every dependency, each retried.
	e.TG.FailNext("download", 500, "Internal Server Error")
	e.TG.FailNext("download", 500, "Internal Server Error")
	e.TG.FailNext("download", 500, "Internal Server Error")
	h.deliver(photo())
	sent("a result after download failures", 1)

	h.TGP.Inject(faultproxy.Fault{Path: tgPath("getFile"), Times: 1, Stall: stallFor})
	h.deliver(photo())
	sent("a result after a getFile stall", 1)

	h.TGP.Inject(faultproxy.Fault{Path: tgFilePath, Times: 1, Stall: stallFor})
	h.deliver(photo())
	sent("a result after a download stall", 1)

	h.S3.FailOnce(http.MethodPut, "images/", http.StatusServiceUnavailable, "SlowDown")
	h.S3.Inject(faultproxy.Fault{Method: http.MethodPut, Prefix: "tasks/", Times: 1, Stall: stallFor})
	h.deliver(photo())
	sent("a result after S3 failures", 1)

	e.RP.FailNext("create", 500, "")
	h.RPP.Inject(faultproxy.Fault{Method: http.MethodPost, Path: "/v1/models/", Skip: 1, Times: 1, Stall: stallFor})
	h.deliver(photo())
	sent("a result after Replicate failures", 1)

	e.TG.FailNext("sendPhoto", 500, "Internal Server Error")
	e.TG.FailNext("sendPhoto", 502, "Bad Gateway")
	e.TG.FailNext("sendPhoto", 500, "Internal Server Error")
	h.S3.FailOnce(http.MethodGet, "tasks/", http.StatusForbidden, "AccessDenied")
	h.TGP.Inject(faultproxy.Fault{Path: tgPath("sendPhoto"), Skip: 3, Times: 1, Stall: stallFor})
	h.deliver(photo())
	sent("a result after delivery failures", 1)
	h.settle(30 * time.Second)

	logs := e.Logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 50 {
		t.Fatalf("only %d log lines: the flows did not run", len(lines))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line %d is not one JSON object (%v): %s", i+1, err, line)
			continue
		}
		if s, ok := m["level"].(string); !ok || s == "" {
			t.Errorf("line %d has no level: %s", i+1, line)
		}
		if s, ok := m["msg"].(string); !ok || s == "" {
			t.Errorf("line %d has no msg: %s", i+1, line)
		}
	}

	_, tokenSecret, _ := strings.Cut(testenv.BotToken, ":")
	secrets := map[string]string{
		"the bot token":                            testenv.BotToken,
		"the secret half of the bot token":         tokenSecret,
		"the Replicate API token":                  testenv.ReplicateToken,
		"the Telegram webhook secret":              testenv.WebhookSecret,
		"Replicate's webhook secret":               e.RP.WebhookSecret,
		"Replicate's webhook key (base64)":         strings.TrimPrefix(e.RP.WebhookSecret, "whsec_"),
		"the AWS secret key":                       e.MinIO.SecretKey,
		"a presigned URL (signature)":              "x-amz-signature",
		"a presigned URL (credential)":             "x-amz-credential",
		"a Telegram file URL":                      "/file/bot",
		"an URL-escaped presigned URL (signature)": "x-amz-signature%3d",
	}
	lower := strings.ToLower(logs)
	for what, s := range secrets {
		if i := strings.Index(lower, strings.ToLower(s)); i >= 0 {
			start := strings.LastIndex(logs[:i], "\n") + 1
			end := strings.Index(logs[i:], "\n")
			if end < 0 {
				end = len(logs) - i
			}
			t.Errorf("the logs hold %s: %s", what, logs[start:i+end])
		}
	}

	// The flows did log what this test means to inspect.
	for _, msg := range []string{"photo accepted", "result delivered", "Telegram could not fetch the result; uploading it",
		"telegram webhook refused: wrong secret token", "replicate webhook refused", "transient failure; Telegram will retry",
		"delivery failed; Replicate will retry", "no task for this prediction (yet); asking for a retry"} {
		if !strings.Contains(logs, `"msg":"`+msg+`"`) {
			t.Errorf("no %q in the logs: a flow did not run as meant", msg)
		}
	}
	// Errors were logged with their text (which is what could leak).
	if !strings.Contains(logs, "context deadline exceeded") || !strings.Contains(logs, "AccessDenied") {
		t.Errorf("the logs hold no stall or S3 error text")
	}
}
