package yc_test

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/stats"
)

// ownersView, in the functions as deployed (TestPackagedFunctions): a
// photo refused for want of credit alerts the admin from fn-handler, and
// /stats in fn-handler sums what fn-callback counted.
func ownersView(t *testing.T, e *testenv.Env) {
	const owner = 2002009
	ownerTexts := func() []string {
		var out []string
		for _, m := range e.TG.Messages(owner) {
			if m.FromBot && m.Kind == "text" {
				out = append(out, m.Text)
			}
		}
		return out
	}
	e.RP.FailNext("create", http.StatusPaymentRequired, "")
	p := e.NewPhoto(2002003)
	if status, err := e.TG.DeliverUpdate(e.Update(p)); err != nil || status != 200 {
		t.Fatalf("photo: %d %v", status, err)
	}
	e.Eventually("the admin alerted", 10*time.Second, func() bool { return len(ownerTexts()) == 1 })
	if a := ownerTexts()[0]; !strings.Contains(a, "Top up your Replicate balance") {
		t.Errorf("alert %q", a)
	}
	photos := len(e.TG.Calls("sendPhoto"))
	update := map[string]any{"update_id": 990001, "message": map[string]any{
		"message_id": e.TG.NewMessageID(), "date": time.Now().Unix(), "text": "/stats",
		"from": map[string]any{"id": owner, "language_code": "en"}, "chat": map[string]any{"id": owner, "type": "private"},
	}}
	if status, err := e.TG.DeliverUpdate(update); err != nil || status != 200 {
		t.Fatalf("/stats: %d %v", status, err)
	}
	chart := e.TG.WaitCalls(t, "sendPhoto", photos+1, 10*time.Second)[photos]
	if img, err := png.Decode(bytes.NewReader(chart.Files["photo"])); err != nil || chart.Params["chat_id"] != "2002009" ||
		img.Bounds().Dx() != stats.ChartWidth {
		t.Errorf("the chart: to %s, %v", chart.Params["chat_id"], err)
	}
	e.Eventually("the /stats answer", 10*time.Second, func() bool { return len(ownerTexts()) == 2 })
	answer := ownerTexts()[1]
	for _, want := range []string{"Photos processed: 3 · 3 · 3", "  delivered: 3 · 3 · 3", "  unavailable: 1 · 1 · 1",
		"Last alert: Replicate out of credit"} {
		if !strings.Contains(answer, want) {
			t.Errorf("/stats lacks %q:\n%s", want, answer)
		}
	}
}
