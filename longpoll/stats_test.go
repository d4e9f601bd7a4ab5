package longpoll_test

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/stats"
)

// In photobot run the numbers live in DATA_DIR, the model time comes from
// the polled prediction, the alert and /stats go through getUpdates.
func TestStatsAndAlertsInRun(t *testing.T) {
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	rp.RunTime = 300 * time.Millisecond
	start(t, runnerWith(t, tg, rp, t.TempDir(), map[string]string{
		"REPLICATE_MODEL": "acme/photo-restore", "ADMIN_USERS": "777", "REPLICATE_COST_PER_SECOND": "0.01"}))

	tg.PushUpdate(photoUpdate(tg, 2001, fake.JPEG(64, 48)))
	tg.WaitCalls(t, "sendPhoto", 1, 10*time.Second)
	rp.FailAlways("create", http.StatusUnauthorized, "")
	tg.PushUpdate(photoUpdate(tg, 2002, fake.JPEG(64, 48)))
	waitFor(t, "the admin alerted and the user told", func() bool { return len(texts(tg, 777)) == 1 && len(texts(tg, 2002)) == 1 })
	if got := texts(tg, 2002); len(got) != 1 || !strings.Contains(got[0], "временно не может обрабатывать фото") {
		t.Errorf("the user was told %q", got)
	}
	if a := texts(tg, 777)[0]; !strings.Contains(a, "REPLICATE_API_TOKEN was refused") || !strings.Contains(a, "401 Unauthenticated") {
		t.Errorf("alert %q", a)
	}
	rp.ClearFaults()

	tg.PushUpdate(map[string]any{"message": map[string]any{
		"message_id": tg.NewMessageID(), "date": time.Now().Unix(), "text": "/stats",
		"from": map[string]any{"id": 777, "language_code": "en"}, "chat": map[string]any{"id": 777, "type": "private"},
	}})
	waitFor(t, "the /stats answer", func() bool { return len(texts(tg, 777)) == 2 })
	answer := texts(tg, 777)[1]
	for _, want := range []string{"Photos processed: 1 · 1 · 1", "Users: 2 · 2 · 2", "  delivered: 1 · 1 · 1",
		"  unavailable: 1 · 1 · 1", "Model time: 0.3s", "Replicate spend (est.): $0.003", "Last alert: Replicate token refused"} {
		if !strings.Contains(answer, want) {
			t.Errorf("/stats lacks %q:\n%s", want, answer)
		}
	}
	var chart []byte
	for _, c := range tg.Calls("sendPhoto") {
		if c.Params["chat_id"] == "777" {
			chart = c.Files["photo"]
		}
	}
	if img, err := png.Decode(bytes.NewReader(chart)); err != nil || img.Bounds().Dx() != stats.ChartWidth {
		t.Errorf("the chart: %v", err)
	}
}

func texts(tg *fake.Telegram, chat int64) []string {
	var out []string
	for _, m := range tg.Messages(chat) {
		if m.FromBot && m.Kind == "text" {
			out = append(out, m.Text)
		}
	}
	return out
}
