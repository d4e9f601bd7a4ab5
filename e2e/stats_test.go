package e2e_test

import (
	"bytes"
	"image/png"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/stats"
)

const owner = 9001

// command is a text message from a user, as Telegram sends it.
func commandUpdate(h *harness, chat int64, text string) map[string]any {
	id := time.Now().UnixNano() % 1_000_000_000
	return map[string]any{"update_id": id, "message": map[string]any{
		"message_id": h.TG.NewMessageID(), "date": h.Clock.Now().Unix(), "text": text,
		"from":     map[string]any{"id": chat, "is_bot": false, "first_name": "Owner", "language_code": "en"},
		"chat":     map[string]any{"id": chat, "type": "private"},
		"entities": []map[string]any{{"type": "bot_command", "offset": 0, "length": len(strings.Fields(text)[0])}},
	}}
}

// secondInstance is another serve process on the same bucket and clock.
func secondInstance(h *harness) *app.Bot {
	cfg, err := config.Load(func(k string) string { return h.Vars[k] }, config.Serve)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := app.NewWith(cfg, app.Logger(h.Logs, cfg.LogLevel), config.Serve, func(o *pipeline.Options) { o.Now = h.Clock.Now })
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// botTexts are the texts the bot sent to chat.
func botTexts(h *harness, chat int64) []string {
	var out []string
	for _, m := range h.TG.Messages(chat) {
		if m.FromBot && m.Kind == "text" {
			out = append(out, m.Text)
		}
	}
	return out
}

// The owner's view in serve, over ten days on the bot's clock: photos
// delivered and failed, Replicate out of credit for a while (users told
// plainly, the admin once per hour), then /stats: the numbers as text
// (the webhook's answer) and the chart uploaded as a photo.
func TestStatsAndAlertsInServe(t *testing.T) {
	h := newHarness(t, false, func(v map[string]string) {
		v["ADMIN_USERS"] = "9001"
		v["REPLICATE_COST_PER_SECOND"] = "0.0014"
	})
	h.RP.RunTime = 250 * time.Millisecond
	var n atomic.Int32
	h.RP.SetModelFunc(func(in map[string]any, fetched []byte) (string, any, string) {
		if n.Add(1)%6 == 0 {
			return fake.StatusFailed, nil, "CUDA error: out of memory"
		}
		return "", h.RP.ServeOutput("out.png", "image/png", h.RP.OutputPNG), ""
	})
	photo := func(chat int64) {
		p := h.NewPhoto(chat)
		p.Language, p.Date = "en", h.Clock.Now()
		h.deliver(h.Update(p))
	}
	for day := range 10 {
		if day > 0 {
			h.Clock.Advance(24 * time.Hour)
		}
		for i := range 2 + day%4 {
			photo(int64(4300 + i + day%3))
		}
		h.settle(30 * time.Second)
		if day == 7 {
			// Two instances see it: one alert.
			h.RP.FailAlways("create", http.StatusPaymentRequired, "")
			photo(4400)
			h.Handler(secondInstance(h).Handler())
			photo(4401)
			h.Handler(h.Bot.Handler())
			h.RP.ClearFaults()
		}
	}
	for _, chat := range []int64{4400, 4401} {
		if got := botTexts(h, chat); len(got) != 1 || !strings.Contains(got[0], "can't process photos right now") {
			t.Errorf("user %d was told %q", chat, got)
		}
	}
	alerts := botTexts(h, owner)
	if len(alerts) != 1 || !strings.Contains(alerts[0], "Top up your Replicate balance at https://replicate.com/account/billing") ||
		!strings.Contains(alerts[0], "402 Insufficient credit") {
		t.Fatalf("the admin got %q, want one alert", alerts)
	}

	start := time.Now()
	h.deliver(commandUpdate(h, owner, "/stats"))
	took := time.Since(start)
	charts := func() (sent []fake.Call) {
		for _, c := range h.TG.Calls("sendPhoto") {
			if c.Params["chat_id"] == "9001" {
				sent = append(sent, c)
			}
		}
		return sent
	}
	h.Eventually("the chart sent to the admin", wait, func() bool { return len(charts()) == 1 })
	upload := charts()[0]
	img, err := png.Decode(bytes.NewReader(upload.Files["photo"]))
	if err != nil || img.Bounds().Dx() != stats.ChartWidth || img.Bounds().Dy() != stats.ChartHeight {
		t.Fatalf("the chart sent to the admin: %v (%d bytes), %v", err, len(upload.Files["photo"]), img)
	}
	var answer string
	h.Eventually("the /stats answer", wait, func() bool {
		texts := botTexts(h, owner)
		answer = texts[len(texts)-1]
		return strings.HasPrefix(answer, "📊")
	})
	photos := int(n.Load())
	for _, want := range []string{
		"Photos processed: 3 · ", "Users: 3 · ", "  unavailable: 0 · 2 · 2", "  failed: out of memory: ",
		"Last alert: Replicate out of credit, ",
	} {
		if !strings.Contains(answer, want) {
			t.Errorf("/stats lacks %q:\n%s", want, answer)
		}
	}
	if !strings.Contains(answer, " · "+strconv.Itoa(photos)+"\n") {
		t.Errorf("/stats does not count %d photos in 30 days:\n%s", photos, answer)
	}
	// The first /stats of a day rolls up the closed days (here 29 of them,
	// each summed from its 32 shards); the next reads one object per day.
	start = time.Now()
	h.deliver(commandUpdate(h, owner, "/stats"))
	h.Eventually("the second chart", wait, func() bool { return len(charts()) == 2 })
	// Timings are the benchmarks' business (and the reads are counted in
	// package stats): logged here, not asserted.
	t.Logf("/stats answered in %v, the first (rolling up 29 days) in %v", time.Since(start), took)
	t.Logf("/stats:\n%s", answer)
	if out := os.Getenv("STATS_CHART_OUT"); out != "" {
		os.WriteFile(out, upload.Files["photo"], 0o644)
	}
}
