package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/faultproxy"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/testclock"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/pipeline"
)

// How the harness models the two senders of webhooks.
const (
	// Telegram delivers an update again when it was not answered 2xx. The
	// bot's clock moves redeliveryStep between two deliveries (the real
	// intervals grow from seconds to minutes); after maxDeliveries the
	// chat counts as blocked.
	maxDeliveries  = 15
	redeliveryStep = time.Minute
	redeliveryWait = 20 * time.Millisecond
	// Replicate retries a completed webhook that was not answered 2xx for
	// about a minute. The fake retries webhookRetries times after
	// webhookBackoff (doubling); each retry after a 409 or 5xx moves the
	// bot's clock by replicateRetryStep, so that the retries span a minute
	// for the bot (and a stale delivery lease, 40 s, can be taken over).
	webhookRetries     = 5
	webhookBackoff     = 100 * time.Millisecond
	replicateRetryStep = 12 * time.Second
)

// English texts the user may see (photos are sent with language "en"):
// the acceptances, counted apart from other messages.
const (
	textAccepted      = "Got it, processing your photo…"
	textAcceptedAlbum = "Got your album, processing every photo…"
)

// harness is a deployment whose three dependencies are each reached
// through a fault proxy: S3 (MinIO), the fake Telegram and the fake
// Replicate.
type harness struct {
	*testenv.Env
	t     *testing.T
	S3    *faultproxy.Proxy // in front of MinIO
	TGP   *faultproxy.Proxy // in front of the fake Telegram
	RPP   *faultproxy.Proxy // in front of the fake Replicate
	Clock *testclock.Clock
}

// tgPath is the path of a Bot API method as the bot calls it.
func tgPath(method string) string { return "/bot" + testenv.BotToken + "/" + method }

// tgFilePath is the prefix of file downloads.
var tgFilePath = "/file/bot" + testenv.BotToken + "/"

func newHarness(t *testing.T, fast bool, vars ...func(map[string]string)) *harness {
	t.Helper()
	h := &harness{t: t, Clock: testclock.New()}
	h.S3 = faultproxy.New(t, miniotest.Start(t).Endpoint)
	h.S3.SetClock(h.Clock.Now) // claims age by the bucket's clock
	core := func(o *pipeline.Options) {
		o.Now = h.Clock.Now
		if fast {
			// Stalls are cut quickly, and the senders' patience with
			// them is shortened below. Not too quickly: a call that is
			// not faulted must still finish on a loaded machine (at
			// 400 ms, a create prediction under the race detector beside
			// a CPU load timed out, and the lost answer made a second
			// prediction in a row with no Replicate fault at all).
			o.CallTimeout = 1500 * time.Millisecond
			o.Deadline = 3 * time.Second
			o.SaveBudget = time.Second
		}
	}
	h.Env = testenv.NewWithCore(t, core, func(v map[string]string) {
		v["S3_ENDPOINT_URL"] = h.S3.URL
		h.TGP = faultproxy.New(t, v["TELEGRAM_API_URL"])
		v["TELEGRAM_API_URL"] = h.TGP.URL
		h.RPP = faultproxy.New(t, strings.TrimSuffix(v["REPLICATE_API_URL"], "/v1"))
		v["REPLICATE_API_URL"] = h.RPP.URL + "/v1"
		for _, f := range vars {
			f(v)
		}
	})
	h.Env.Clock = h.Clock // the messages' dates, by the clock the core was given
	h.RP.RunTime = 150 * time.Millisecond
	h.RP.WebhookRetries = webhookRetries
	h.RP.WebhookBackoff = webhookBackoff
	// Both senders wait for the bot's answer longer than its deadline
	// (25 s) plus its cleanup (5 s); fast lowers this with the deadline.
	h.RP.WebhookTimeout = 31 * time.Second
	h.TG.WebhookTimeout = 31 * time.Second
	if fast {
		h.RP.WebhookTimeout = 9 * time.Second
		h.TG.WebhookTimeout = 9 * time.Second
	}

	// Telegram posts updates to the webhook, as in production, and
	// performs the method of a 2xx answer (the bot's replies).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Bot.Services().Telegram.SetWebhook(ctx, &bot.SetWebhookParams{URL: h.URL + httpapi.TelegramPath,
		SecretToken: testenv.WebhookSecret}); err != nil {
		t.Fatal(err)
	}
	// A retry of a Replicate webhook that the bot could not take (409, 5xx)
	// comes later on the bot's clock. (Retries of 404s, predictions the
	// bot does not know, leave the clock alone: they have nothing to wait
	// for.)
	inner := h.Bot.Handler()
	var last sync.Map // webhook-id → status of its last attempt
	h.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != httpapi.ReplicatePath {
			inner.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get("Webhook-Id")
		if prev, ok := last.Load(id); ok && (prev == http.StatusConflict || prev.(int) >= 500) {
			h.Clock.Advance(replicateRetryStep)
		}
		sw := &recordingWriter{ResponseWriter: w, code: http.StatusOK}
		inner.ServeHTTP(sw, r)
		last.Store(id, sw.code)
	}))
	return h
}

type recordingWriter struct {
	http.ResponseWriter
	code int
}

func (s *recordingWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// deliver hands the update to the bot as Telegram does: again and again
// until it is answered 2xx. It returns the status of each delivery (0 for
// no answer).
func (h *harness) deliver(update map[string]any) []int {
	h.t.Helper()
	var got []int
	for i := 0; i < maxDeliveries; i++ {
		if i > 0 {
			h.Clock.Advance(redeliveryStep)
			time.Sleep(redeliveryWait)
		}
		status, err := h.TG.DeliverUpdate(update)
		got = append(got, status)
		if err == nil && status >= 200 && status <= 299 {
			return got
		}
	}
	h.t.Errorf("CHAT BLOCKED: Telegram delivered the update %d times (%v minutes on the bot's clock) and never got a 2xx: %v",
		maxDeliveries, maxDeliveries-1, got)
	return got
}

// settle waits until Replicate has nothing left to do: every prediction is
// terminal and its completed webhook was answered 2xx or retried to the end.
// Webhook handlers have returned by then.
func (h *harness) settle(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !h.replicateIdle() {
		if time.Now().After(deadline) {
			h.t.Fatalf("Replicate still busy after %v: predictions %v, webhook deliveries %v", timeout, h.predictionStates(), h.deliveryStates())
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.RP.WaitIdle(h.t, timeout)
}

func predictionDone(status string) bool {
	switch status {
	case fake.StatusSucceeded, fake.StatusFailed, fake.StatusCanceled, fake.StatusAborted:
		return true
	}
	return false
}

func (h *harness) replicateIdle() bool {
	ds := h.RP.Deliveries()
	for _, p := range h.RP.Predictions() {
		if !predictionDone(p.Status) {
			return false
		}
		done := false
		for _, d := range ds {
			if d.PredictionID == p.ID && d.Event == "completed" && (d.Status/100 == 2 || d.Attempt > webhookRetries) {
				done = true
			}
		}
		if !done {
			return false
		}
	}
	return true
}

func (h *harness) predictionStates() []string {
	var s []string
	for _, p := range h.RP.Predictions() {
		s = append(s, p.ID+":"+p.Status)
	}
	return s
}

// deliveryStates lists, per prediction, the statuses its webhook got.
func (h *harness) deliveryStates() map[string][]int {
	m := map[string][]int{}
	for _, d := range h.RP.Deliveries() {
		m[d.PredictionID] = append(m[d.PredictionID], d.Status)
	}
	return m
}

// userOutcome is what the user and the accounts saw.
type userOutcome struct {
	accepted    int      // "got it" messages
	results     []string // methods that delivered a result (sendPhoto, sendDocument, sendMediaGroup)
	messages    []string // every other message
	predictions []string // ids of the predictions created
	live        []string // those not canceled
	orphans     []string // created, no task ever saved, not canceled
}

func (o userOutcome) String() string {
	return fmt.Sprintf("%d acceptance(s), results %v, messages %q, %d prediction(s) (%d not canceled, orphans %v)",
		o.accepted, o.results, o.messages, len(o.predictions), len(o.live), o.orphans)
}

func (h *harness) outcome(chatID int64) userOutcome {
	var o userOutcome
	chat := fmt.Sprint(chatID)
	for _, c := range h.TG.Calls("") {
		if c.Status != http.StatusOK || c.Params["chat_id"] != chat {
			continue
		}
		switch c.Method {
		case "sendMessage":
			if t := c.Params["text"]; t == textAccepted || t == textAcceptedAlbum {
				o.accepted++
			} else {
				o.messages = append(o.messages, c.Params["text"])
			}
		case "sendPhoto", "sendDocument", "sendMediaGroup":
			o.results = append(o.results, c.Method)
		}
	}
	canceled := map[string]bool{}
	for _, id := range h.RP.Canceled() {
		canceled[id] = true
	}
	for _, p := range h.RP.Predictions() {
		o.predictions = append(o.predictions, p.ID)
		if canceled[p.ID] {
			continue
		}
		o.live = append(o.live, p.ID)
		if !h.taskSaved(p.ID) {
			o.orphans = append(o.orphans, p.ID)
		}
	}
	return o
}

// taskSaved reports whether tasks/{id}.json was ever written: a PUT that
// MinIO answered 200, or a GET that found it (a PUT whose client gave up
// may still have been written, and then be read).
func (h *harness) taskSaved(id string) bool {
	for _, method := range []string{http.MethodPut, http.MethodGet} {
		for _, r := range h.S3.Requests(method, "tasks/"+id+".json") {
			if r.Forwarded && r.Upstream == http.StatusOK {
				return true
			}
		}
	}
	return false
}

// faultWant is the user-visible outcome a row expects.
type faultWant struct {
	// result: exactly one result, sent with method as (any when "").
	result bool
	as     string
	// message: no result, exactly one message; saying, when set, is a
	// word the message must hold (case-insensitive).
	message bool
	saying  string
	// accepted: the user was told "got it" (exactly once) before.
	accepted bool
	// known names a limit the README documents, and the row asserts that
	// exact deviation: "orphan" (a create whose answer was lost: its
	// prediction runs unseen beside the redelivery's, which gives the one
	// result), "duplicate" (a send whose answer was lost is sent again:
	// two results), "silent" (the store refuses to read the task: the chat
	// is unknown, nothing can be sent; an error is logged).
	known string
}

func (w faultWant) String() string {
	var s string
	switch {
	case w.result && w.as != "":
		s = "one result (" + w.as + ")"
	case w.result:
		s = "one result"
	case w.saying != "":
		s = fmt.Sprintf("one message saying %q", w.saying)
	default:
		s = "one message"
	}
	if w.known != "" {
		s += " (known limit: " + w.known + ")"
	}
	if w.accepted {
		return "acceptance, then " + s
	}
	return "no acceptance, " + s
}

// check compares what happened with w and with the invariants every row
// shares: at most one prediction left running, no orphan prediction.
func (h *harness) check(chatID int64, w faultWant, deliveries []int) {
	h.t.Helper()
	o := h.outcome(chatID)
	var problems []string
	switch {
	case w.known == "silent":
		if len(o.results)+len(o.messages) != 0 || !strings.Contains(h.warnings(), "ERROR") {
			problems = append(problems, "the known silent outcome changed: want no result, no message, an ERROR logged")
		}
		w.result = false
	case w.known == "duplicate" && len(o.results) == 2:
		o.results = o.results[:1]
	}
	switch {
	case w.known == "silent":
	case len(o.results) == 0 && len(o.messages) == 0 && o.accepted > 0:
		problems = append(problems, "SILENCE: the user was told the photo was accepted and then heard nothing")
	case len(o.results) == 0 && len(o.messages) == 0:
		problems = append(problems, "SILENCE: the user heard nothing at all")
	case len(o.results) > 1:
		problems = append(problems, fmt.Sprintf("DUPLICATE RESULT: the user got %d results", len(o.results)))
	case len(o.messages) > 1:
		problems = append(problems, fmt.Sprintf("SEVERAL MESSAGES: %q", o.messages))
	}
	if w.result {
		if len(o.results) == 1 && w.as != "" && o.results[0] != w.as {
			problems = append(problems, fmt.Sprintf("result sent with %s, want %s", o.results[0], w.as))
		}
		if len(o.results) == 1 && len(o.messages) > 0 {
			problems = append(problems, fmt.Sprintf("a result and messages %q", o.messages))
		}
		if len(o.results) == 0 && len(o.messages) > 0 {
			problems = append(problems, fmt.Sprintf("no result, messages %q", o.messages))
		}
	} else {
		if len(o.results) > 0 {
			problems = append(problems, fmt.Sprintf("results %v, want none", o.results))
		}
		if len(o.messages) == 1 && !strings.Contains(strings.ToLower(o.messages[0]), strings.ToLower(w.saying)) {
			problems = append(problems, fmt.Sprintf("message %q, want one saying %q", o.messages[0], w.saying))
		}
	}
	if wantAcc := map[bool]int{true: 1}[w.accepted]; o.accepted != wantAcc {
		problems = append(problems, fmt.Sprintf("%d acceptance message(s), want %d", o.accepted, wantAcc))
	}
	if w.known == "orphan" {
		if len(o.orphans) != 1 || len(o.live) != 2 {
			problems = append(problems, fmt.Sprintf("the known orphan changed: %d orphans, %d predictions running; want 1 and 2", len(o.orphans), len(o.live)))
		}
		o.orphans, o.live = nil, nil
	}
	if len(o.live) > 1 {
		problems = append(problems, fmt.Sprintf("SECOND PREDICTION: %d predictions for one photo were left running (%v)", len(o.live), o.live))
	}
	if len(o.orphans) > 0 {
		problems = append(problems, fmt.Sprintf("ORPHAN PREDICTION: %v created, no task saved, never canceled", o.orphans))
	}
	h.t.Logf("Telegram deliveries %v; predictions %v; webhook deliveries %v; faults applied: %v",
		deliveries, h.predictionStates(), h.deliveryStates(), h.applied())
	if len(problems) > 0 {
		h.t.Errorf("want %s; got %s\n  %s\nbot's warnings and errors:\n%s", w, o, strings.Join(problems, "\n  "), h.warnings())
	}
}

func (h *harness) applied() []string {
	var s []string
	for _, p := range []*faultproxy.Proxy{h.S3, h.TGP, h.RPP} {
		for _, r := range p.Applied() {
			s = append(s, fmt.Sprintf("%s %s %s→%d", r.Fault, r.Method, shortPath(r.Path), r.Status))
		}
	}
	return s
}

func shortPath(p string) string {
	return strings.ReplaceAll(p, testenv.BotToken, "<token>")
}

// warnings are the bot's log lines at warn level or above, one per line.
func (h *harness) warnings() string {
	var b strings.Builder
	for _, l := range h.Logs.Lines() {
		if l["level"] == "WARN" || l["level"] == "ERROR" {
			if l["msg"] == "request" {
				continue
			}
			fmt.Fprintf(&b, "    %s %s", l["level"], l["msg"])
			if err, ok := l["err"]; ok {
				fmt.Fprintf(&b, ": %v", err)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
