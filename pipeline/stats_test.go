package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/stats"
)

// statsCore is newCore whose bot counts in the store, with admins 42, 43
// and @boss.
func statsCore(t *testing.T, change ...func(*pipeline.Options)) *core {
	t.Helper()
	admins, _ := pipeline.ParseUsers("42, 43, @boss")
	c := newCore(t, append([]func(*pipeline.Options){func(o *pipeline.Options) { o.Admins = admins }}, change...)...)
	c.bot = c.statsBot()
	return c
}

// statsBot is another instance of c's bot: same store, chat, models.
func (c *core) statsBot() *pipeline.Bot {
	b, err := pipeline.New(pipeline.Deps{Store: c.store, Images: c.store, Chat: c.chat, Models: c.models,
		Ledger: stats.New(c.store, nil)}, c.opt)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func command(chat int64, text string, private bool) *pipeline.Update {
	return &pipeline.Update{ID: 1, Message: &pipeline.Message{ID: 1, ChatID: chat, Private: private,
		From: &pipeline.User{ID: chat, Language: "en"}, Text: text}}
}

// askStats sends /stats as admin 42 and returns the text and the chart.
func (c *core) askStats() (string, []byte) {
	c.t.Helper()
	before := len(c.chat.PNGs)
	r, err := c.handle(command(42, "/stats", true))
	if err != nil || r == nil || r.Reply == nil || r.Reply.ChatID != 42 {
		c.t.Fatalf("/stats: %+v, %v", r, err)
	}
	if len(c.chat.PNGs) != before+1 || c.chat.PNGs[before].ChatID != 42 {
		c.t.Fatalf("/stats sent %d charts", len(c.chat.PNGs)-before)
	}
	return r.Reply.Text, c.chat.PNGs[before].Data
}

// Admins get the numbers and a chart; anyone else, or /stats in a group,
// gets the help.
func TestStatsIsForAdminsInPrivate(t *testing.T) {
	c := statsCore(t)
	text, chart := c.askStats()
	if !strings.Contains(text, "Photos processed: 0 · 0 · 0") || !strings.Contains(text, "Last alert: none in 30 days") {
		t.Errorf("/stats of a new bot:\n%s", text)
	}
	img, err := png.Decode(bytes.NewReader(chart))
	if err != nil || img.Bounds().Dx() != stats.ChartWidth || img.Bounds().Dy() != stats.ChartHeight {
		t.Errorf("chart: %v, %v", img.Bounds(), err)
	}
	boss := command(7, "/stats", true)
	boss.Message.From.Username = "Boss"
	if r, _ := c.handle(boss); r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "Photos processed") {
		t.Errorf("@boss got %+v", r)
	}
	for name, u := range map[string]*pipeline.Update{"a user": command(8, "/stats", true), "an admin in a group": command(42, "/stats@photobot", false)} {
		r, _ := c.handle(u)
		if r == nil || r.Reply == nil || strings.Contains(r.Reply.Text, "Photos processed") || !strings.Contains(r.Reply.Text, "Send me a photo") {
			t.Errorf("%s: got %+v, want the help", name, r)
		}
	}
	if len(c.chat.PNGs) != 2 {
		t.Errorf("%d charts sent, want 2 (to the admins)", len(c.chat.PNGs))
	}
	ru := command(42, "/stats", true)
	ru.Message.From.Language = "ru"
	if r, _ := c.handle(ru); r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "Обработано фото: 0 · 0 · 0") {
		t.Errorf("in Russian: %+v", r)
	}
}

// Each photo's outcome is counted once: delivered (its model time and
// spend), failed by kind, canceled, refused by the limits or for access.
func TestOutcomesAreCounted(t *testing.T) {
	allowed, _ := pipeline.ParseUsers("1,2,42")
	c := statsCore(t, func(o *pipeline.Options) {
		o.Allowed, o.DailyLimit = allowed, 2
		o.Effects[0].CostPerSecond = 0.001
	})
	start := func(user int64) string {
		r, err := c.handle(c.photo(user, "en"))
		if err != nil || r == nil || r.PredictionID == "" {
			t.Fatalf("photo of %d: %+v, %v", user, r, err)
		}
		return r.PredictionID
	}
	ok := start(1)
	if err := c.deliver(&pipeline.Outcome{ID: ok, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x.png"},
		Took: 2500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	oom := start(1)
	if err := c.deliver(&pipeline.Outcome{ID: oom, Status: pipeline.Failed, Error: "CUDA error: out of memory", Took: time.Second}); err != nil {
		t.Fatal(err)
	}
	// A duplicate webhook is not counted again.
	if err := c.deliver(&pipeline.Outcome{ID: oom, Status: pipeline.Failed, Error: "CUDA error: out of memory", Took: time.Second}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.handle(c.photo(1, "en")); r == nil || r.PredictionID != "" {
		t.Fatalf("over the daily limit: %+v", r)
	}
	if r, _ := c.handle(c.photo(9, "en")); r == nil || r.PredictionID != "" {
		t.Fatalf("a stranger: %+v", r)
	}
	late := start(2)
	if err := c.deliver(&pipeline.Outcome{ID: late, Status: pipeline.Canceled, Took: 600 * time.Second}); err != nil {
		t.Fatal(err)
	}
	text, _ := c.askStats()
	for _, want := range []string{
		"Photos processed: 3 · 3 · 3", "Users: 3 · 3 · 3", "  delivered: 1 · 1 · 1", "  failed: out of memory: 1 · 1 · 1",
		"  failed: too long: 1 · 1 · 1", "  refused: limits: 1 · 1 · 1", "  refused: access: 1 · 1 · 1",
		"Model time: 10m4s · 10m4s · 10m4s", "Replicate spend (est.): $0.604 · $0.604 · $0.604", "By effect, 30 days: /restore 3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/stats lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Stars") {
		t.Errorf("Stars shown with payments off:\n%s", text)
	}
}

// The numbers survive the days: a prediction delivered yesterday is in the
// week, not today; the Stars counters show with payments on.
func TestStatsSpanDaysAndStars(t *testing.T) {
	c := statsCore(t, func(o *pipeline.Options) { o.ShowStars = true; o.Effects[0].Cost = 0.25 })
	id := func() string {
		r, _ := c.handle(c.photo(5, "en"))
		return r.PredictionID
	}()
	if err := c.deliver(&pipeline.Outcome{ID: id, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x.png"}}); err != nil {
		t.Fatal(err)
	}
	ledger := stats.New(c.store, nil)
	ledger.Add(context.Background(), c.clock.Now(), pipeline.CounterStarsEarned, 50)
	c.clock.Advance(24 * time.Hour)
	text, _ := c.askStats()
	for _, want := range []string{"Photos processed: 0 · 1 · 1", "Replicate spend (est.): $0.00 · $0.250 · $0.250",
		"Stars earned: 0 · 50 · 50", "Stars refunded: 0 · 0 · 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("/stats lacks %q:\n%s", want, text)
		}
	}
}

// errNoCredit is a Models error as replicate makes it for a 402.
var errNoCredit = fmt.Errorf("replicate create prediction: 402 Insufficient credit: %w", errors.Join(pipeline.ErrConfig, pipeline.ErrNoCredit))

// alerts are the messages sent to admins 42 and 43.
func (c *core) alerts() map[int64][]string {
	sent, _, _ := c.chat.Record()
	out := map[int64][]string{}
	for _, r := range sent {
		if r.ChatID == 42 || r.ChatID == 43 {
			out[r.ChatID] = append(out[r.ChatID], r.Text)
		}
	}
	return out
}

// Out of credit: users are told the bot is unavailable and keep their
// quota; each admin is told once per hour, whichever instance sees it.
func TestOutOfCreditAlertsEachAdminOncePerHour(t *testing.T) {
	c := statsCore(t, func(o *pipeline.Options) { o.DailyLimit = 1 })
	other := c.statsBot()
	c.models.FailAlways("create", errNoCredit)
	for i, b := range []*pipeline.Bot{c.bot, other, c.bot} {
		r, err := b.HandleUpdate(context.Background(), c.photo(int64(10+i), "en"))
		if err != nil || r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "can't process photos right now") {
			t.Fatalf("photo %d: %+v, %v", i, r, err)
		}
	}
	a := c.alerts()
	if len(a[42]) != 1 || len(a[43]) != 1 || !strings.Contains(a[42][0], "Top up your Replicate balance at https://replicate.com/account/billing") {
		t.Fatalf("alerts %q, want one to each admin", a)
	}
	if strings.Contains(a[42][0], "r8_") {
		t.Errorf("the alert shows a token: %s", a[42][0])
	}
	c.models.FailAlways("create", nil)
	if r, _ := c.handle(c.photo(10, "en")); r == nil || r.PredictionID == "" {
		t.Errorf("the refused photo cost the user their daily photo: %+v", r)
	}
	c.models.FailAlways("create", errNoCredit)
	c.clock.Advance(time.Hour)
	c.handle(c.photo(11, "en"))
	if a := c.alerts(); len(a[42]) != 2 || len(a[43]) != 2 {
		t.Errorf("an hour later: %d and %d alerts, want 2 each", len(a[42]), len(a[43]))
	}
	text, _ := c.askStats()
	if !strings.Contains(text, "Last alert: Replicate out of credit, ") || !strings.Contains(text, "  unavailable: 4 · 4 · 4") {
		t.Errorf("/stats:\n%s", text)
	}
}

// The other account errors name what to do.
func TestAlertKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.Join(pipeline.ErrConfig, pipeline.ErrTokenRefused), "REPLICATE_API_TOKEN was refused"},
		{errors.Join(pipeline.ErrConfig, pipeline.ErrModelGone), "fix REPLICATE_MODEL or EFFECTS"},
	} {
		c := statsCore(t)
		c.models.FailAlways("create", tc.err)
		c.handle(c.photo(10, "en"))
		if a := c.alerts(); len(a[42]) != 1 || !strings.Contains(a[42][0], tc.want) {
			t.Errorf("%v: alerts %q", tc.err, a)
		}
	}
	// A refused input is the user's photo, not the bot: no alert.
	c := statsCore(t)
	c.models.FailAlways("create", fmt.Errorf("422 Input validation failed: %w", pipeline.ErrRejected))
	c.handle(c.photo(10, "en"))
	if a := c.alerts(); len(a) != 0 {
		t.Errorf("a refused input alerted: %q", a)
	}
}

// When the bucket refuses, the mark cannot be written: each instance
// alerts once per hour, and the user is told plainly that the bot cannot
// work now (no retry: only the operator can mend it).
func TestBucketRefusingAlertsOncePerInstance(t *testing.T) {
	c := statsCore(t)
	other := c.statsBot()
	c.store.FailAlways("create", pipeline.ErrRefused)
	for i, b := range []*pipeline.Bot{c.bot, c.bot, other, other} {
		r, err := b.HandleUpdate(context.Background(), c.photo(int64(10+i), "en"))
		if err != nil || r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "can't process photos right now") {
			t.Errorf("photo %d: %+v, %v; want told the bot cannot work now", i, r, err)
		}
	}
	a := c.alerts()
	if len(a[42]) != 2 || !strings.Contains(a[42][0], "The bucket refuses") {
		t.Errorf("alerts %q, want one per instance", a)
	}
}

// A count that fails never fails the photo: the result is delivered.
func TestCountingFailureIsNotThePhotos(t *testing.T) {
	c := statsCore(t)
	r, _ := c.handle(c.photo(5, "en"))
	c.store.FailAlways("get stats/", errors.New("stats are down"))
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x.png"}}); err != nil {
		t.Fatal(err)
	}
	if _, results, _ := c.chat.Record(); len(results) != 1 {
		t.Errorf("%d results, want 1", len(results))
	}
	r2, _ := c.handle(command(42, "/stats", true))
	if r2 == nil || r2.Reply == nil || !strings.Contains(r2.Reply.Text, "cannot be read right now") {
		t.Errorf("/stats with the stats down: %+v", r2)
	}
}
