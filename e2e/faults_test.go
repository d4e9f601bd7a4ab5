package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/faultproxy"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/pipeline"
)

// stallFor outlasts every timeout of the bot: CallTimeout and Deadline as
// lowered by harness.fast, and the 5 s of its cleanup calls.
const stallFor = 10 * time.Second

// faultRow is one external call under one fault, with the outcome the user
// must see.
type faultRow struct {
	call, fault string
	// slow rows lower the bot's timeouts (stalls, lost answers).
	slow   bool
	inject func(h *harness)
	want   faultWant
	// album sends the photo as part of an album.
	album bool
}

var (
	wantResult = faultWant{result: true, accepted: true}
	// The user is told the service is busy: Telegram redelivered the
	// update for GiveUpAfter.
	wantBusy = faultWant{message: true, saying: "busy"}
	// The bucket refuses the bot: the user is told at once that the bot
	// cannot work now (and the admins are alerted).
	wantUnavailable = faultWant{message: true, saying: "can't process photos right now"}
	// The photo is refused for good, with a message saying why.
	wantRefused = faultWant{message: true}
	// The result could not be sent, and the user is told.
	wantUndeliverable = faultWant{message: true, accepted: true}
)

// s3Rows are the faults of an S3 call: method and key prefix, and the
// header that tells the call from others on the same keys (If-None-Match
// for a conditional create, If-Match for a conditional replace).
func s3Rows(call, method, prefix, header string, transient faultproxy.Fault, permanent, stalled, lost faultWant) []faultRow {
	with := func(f faultproxy.Fault) faultproxy.Fault {
		f.Method, f.Prefix, f.Header = method, prefix, header
		return f
	}
	transient.Times = 1
	rows := []faultRow{
		{call: call, fault: "transient", inject: func(h *harness) { h.S3.Inject(with(transient)) }, want: wantResult},
		// Fast: each of Telegram's redeliveries pays the call's timeouts
		// (the task's save, its whole budget).
		{call: call, fault: "permanent", slow: true, inject: func(h *harness) {
			h.S3.Inject(with(faultproxy.Fault{Status: http.StatusForbidden, Code: "AccessDenied"}))
		}, want: permanent},
		{call: call, fault: "stall", slow: true, inject: func(h *harness) {
			h.S3.Inject(with(faultproxy.Fault{Times: 1, Stall: stallFor}))
		}, want: stalled},
	}
	if lost != (faultWant{}) {
		rows = append(rows, faultRow{call: call, fault: "lost-answer", slow: true, inject: func(h *harness) {
			h.S3.Inject(with(faultproxy.Fault{Times: 1, StallAnswer: stallFor}))
		}, want: lost})
	}
	return rows
}

var (
	s3SlowDown      = faultproxy.Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown"}
	s3InternalError = faultproxy.Fault{Status: http.StatusInternalServerError, Code: "InternalError"}
	tgURLRefused    = "Bad Request: failed to get HTTP URL content"
)

// faultMatrix: every external call of both paths × (transient failure
// once, permanent failure, stall past the call's timeout, and for calls
// that change something, an answer lost after the work was done).
func faultMatrix() []faultRow {
	var rows []faultRow
	add := func(r ...faultRow) { rows = append(rows, r...) }
	row := func(call, fault string, slow bool, want faultWant, inject func(h *harness)) faultRow {
		return faultRow{call: call, fault: fault, slow: slow, inject: inject, want: want}
	}
	stallTG := func(path string, skip int) func(h *harness) {
		return func(h *harness) { h.TGP.Inject(faultproxy.Fault{Path: path, Skip: skip, Times: 1, Stall: stallFor}) }
	}
	const createPath = "/v1/models/"
	cond, ifMatch := "If-None-Match", "If-Match"

	// ---- intake: a photo arrives ----
	add(s3Rows("update-claim", http.MethodPut, "updates/", cond, s3SlowDown, wantUnavailable, wantResult, wantResult)...)
	add(s3Rows("quota-reserve", http.MethodPut, "users/", cond, s3SlowDown, wantUnavailable, wantResult, wantResult)...)
	add(
		row("getFile", "transient", false, wantResult, func(h *harness) { h.TG.FailNext("getFile", 500, "Internal Server Error") }),
		row("getFile", "permanent", false, wantRefused, func(h *harness) { h.TG.FailAlways("getFile", 400, "Bad Request: invalid file_id") }),
		row("getFile", "stall", true, wantResult, stallTG(tgPath("getFile"), 0)),
		row("download", "transient", false, wantResult, func(h *harness) { h.TG.FailNext("download", 502, "Bad Gateway") }),
		row("download", "permanent", false, wantRefused, func(h *harness) { h.TG.FailAlways("download", 404, "Not Found") }),
		row("download", "stall", true, wantResult, stallTG(tgFilePath, 0)),
	)
	add(s3Rows("image-upload", http.MethodPut, "images/", "", s3SlowDown, wantUnavailable, wantResult, wantResult)...)
	add(
		row("create-prediction", "transient", false, wantResult, func(h *harness) { h.RP.FailNext("create", 500, "") }),
		row("create-prediction", "permanent", false, wantRefused, func(h *harness) { h.RP.FailAlways("create", 401, "") }),
		row("create-prediction", "stall", true, wantResult, func(h *harness) {
			h.RPP.Inject(faultproxy.Fault{Method: http.MethodPost, Path: createPath, Times: 1, Stall: stallFor})
		}),
		row("create-prediction", "lost-answer", true, faultWant{result: true, accepted: true, known: "orphan"}, func(h *harness) {
			h.RPP.Inject(faultproxy.Fault{Method: http.MethodPost, Path: createPath, Times: 1, StallAnswer: stallFor})
		}),
	)
	add(s3Rows("task-save", http.MethodPut, "tasks/", "", s3SlowDown, wantUnavailable, wantResult, wantResult)...)
	// The album's acknowledgement is claimed once per album; whatever
	// happens to the claim, the user is told.
	for _, r := range s3Rows("album-claim", http.MethodPut, "albums/", cond, s3SlowDown, wantResult, wantResult, wantResult) {
		r.album = true
		add(r)
	}

	// ---- delivery: the model is done ----
	add(s3Rows("task-load", http.MethodGet, "tasks/", "", s3InternalError, faultWant{accepted: true, known: "silent"}, wantResult, faultWant{})...)
	add(s3Rows("delivery-claim", http.MethodPut, "deliveries/", cond, s3SlowDown, wantResult, wantResult, wantResult)...)
	add(
		// "sending photo…" while photobot uploads a result Telegram would
		// not fetch: a courtesy whose failure changes nothing.
		row("chat-action", "transient", false, wantResult, func(h *harness) {
			h.TG.FailNext("sendPhoto", 400, tgURLRefused)
			h.TG.FailNext("sendChatAction", 500, "Internal Server Error")
		}),
		row("chat-action", "permanent", false, wantResult, func(h *harness) {
			h.TG.FailNext("sendPhoto", 400, tgURLRefused)
			h.TG.FailAlways("sendChatAction", 400, "Bad Request: not enough rights to send chat actions")
		}),
		row("chat-action", "stall", true, wantResult, func(h *harness) {
			h.TG.FailNext("sendPhoto", 400, tgURLRefused)
			stallTG(tgPath("sendChatAction"), 0)(h)
		}),
		row("sendPhoto", "transient", false, faultWant{result: true, as: "sendPhoto", accepted: true}, func(h *harness) {
			h.TG.FailNext("sendPhoto", 500, "Internal Server Error")
		}),
		row("sendPhoto", "permanent", false, wantUndeliverable, func(h *harness) {
			h.TG.FailAlways("sendPhoto", 400, "Bad Request: not enough rights to send photos to the chat")
		}),
		row("sendPhoto", "stall", true, wantResult, stallTG(tgPath("sendPhoto"), 0)),
		row("sendPhoto", "lost-answer", true, faultWant{result: true, accepted: true, known: "duplicate"}, func(h *harness) {
			h.TGP.Inject(faultproxy.Fault{Path: tgPath("sendPhoto"), Times: 1, StallAnswer: stallFor})
		}),
		// The upload fallback: Telegram refuses the result's URL first.
		row("sendPhoto-upload", "transient", false, wantResult, func(h *harness) {
			h.TG.FailNext("sendPhoto", 400, tgURLRefused)
			h.TG.FailNext("sendPhoto", 500, "Internal Server Error")
		}),
		row("sendPhoto-upload", "permanent", false, faultWant{result: true, as: "sendDocument", accepted: true}, func(h *harness) {
			h.TG.FailAlways("sendPhoto", 400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
		}),
		row("sendPhoto-upload", "stall", true, wantResult, func(h *harness) {
			h.TG.FailNext("sendPhoto", 400, tgURLRefused)
			stallTG(tgPath("sendPhoto"), 1)(h)
		}),
	)
	add(s3Rows("task-delete", http.MethodDelete, "tasks/", "", s3InternalError, wantResult, wantResult, wantResult)...)
	add(s3Rows("quota-release", http.MethodPut, "users/", ifMatch, s3InternalError, wantResult, wantResult, wantResult)...)
	return rows
}

// matrixConcurrency bounds the rows run at once. The rows mostly wait
// (timeouts, retries), so more run than -parallel (GOMAXPROCS) would allow.
const matrixConcurrency = 6

// TestFaultMatrix injects one fault into one external call and checks
// what the user sees: exactly one result or exactly one clear message, a
// chat never blocked by redeliveries, never two predictions left running
// for one photo, never a prediction without a task left uncanceled.
// docs/fault-matrix.md lists the rows.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	rows := faultMatrix()
	var calls []string
	byCall := map[string][]faultRow{}
	for _, r := range rows {
		if byCall[r.call] == nil {
			calls = append(calls, r.call)
		}
		byCall[r.call] = append(byCall[r.call], r)
	}
	// Subtests run concurrently from goroutines (t.Run allows it), bounded
	// by a semaphore rather than by -parallel.
	sem := make(chan struct{}, matrixConcurrency)
	var groups sync.WaitGroup
	for i, call := range calls {
		groups.Add(1)
		go func() {
			defer groups.Done()
			t.Run(call, func(t *testing.T) {
				var rows sync.WaitGroup
				for j, r := range byCall[call] {
					chat := int64(3000 + 10*i + j)
					rows.Add(1)
					go func() {
						defer rows.Done()
						t.Run(r.fault, func(t *testing.T) {
							sem <- struct{}{}
							defer func() { <-sem }()
							runFaultRow(t, r, chat)
						})
					}()
				}
				rows.Wait()
			})
		}()
	}
	groups.Wait()
}

func runFaultRow(t *testing.T, r faultRow, chat int64) {
	h := newHarness(t, r.slow)
	r.inject(h)
	p := h.NewPhoto(chat)
	p.Language = "en"
	u := h.Update(p)
	if r.album {
		u["message"].(map[string]any)["media_group_id"] = fmt.Sprint(135790000 + chat)
	}
	deliveries := h.deliver(u)
	h.settle(30 * time.Second)
	h.check(chat, r.want, deliveries)
}

// putLease writes a delivery lease as another request would have.
func putLease(t *testing.T, e *testenv.Env, id, state string, at time.Time) {
	t.Helper()
	rec, _ := json.Marshal(map[string]any{"state": state, "at": at.UnixMilli()})
	if err := e.Store.Put(context.Background(), "deliveries/"+id+".json", strings.NewReader(string(rec)), int64(len(rec)), "application/json"); err != nil {
		t.Fatal(err)
	}
}

// holdWebhooks makes Replicate's webhooks wait until the returned function
// is called, so that a test can prepare the bucket first.
func holdWebhooks(e *testenv.Env) (release func()) {
	inner := e.Bot.Handler()
	gate := make(chan struct{})
	e.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == httpapi.ReplicatePath {
			<-gate
		}
		inner.ServeHTTP(w, r)
	}))
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	e.T.Cleanup(release)
	return release
}

// A request that claimed the delivery and crashed before sending leaves a
// working lease; once it is older, by the bucket's clock, than the
// request's deadline and a margin, a retry of the webhook takes it over
// and the result is sent once. (The deadline is 4 s here, so that the
// lease goes stale in real time, while Replicate retries.)
func TestCrashedDeliveryIsTakenOver(t *testing.T) {
	t.Parallel()
	e := testenv.NewWithCore(t, func(o *pipeline.Options) { o.Deadline = 4 * time.Second })
	e.RP.WebhookRetries, e.RP.WebhookBackoff = 6, 400*time.Millisecond
	release := holdWebhooks(e)
	p := e.NewPhoto(4001)
	accepted(t, e.Send(p), p)
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	// Written "long ago" by a clock that is wrong: only the bucket's
	// clock tells its age.
	putLease(t, e, pr.ID, "working", time.Now().Add(-41*time.Second))
	release()

	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	e.Eventually("the delivery marked done", wait, func() bool {
		data, _, err := e.Store.Get(context.Background(), "deliveries/"+pr.ID+".json")
		return err == nil && strings.Contains(string(data), `"done"`)
	})
	e.RP.WaitIdle(t, wait)
	if n := len(e.TG.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results sent, want 1", n)
	}
	if !strings.Contains(e.Logs.String(), "took over a stale claim") {
		t.Errorf("no takeover logged")
	}
	ds := e.RP.Deliveries()
	if len(ds) < 2 || ds[0].Status != http.StatusConflict || ds[len(ds)-1].Status != http.StatusOK {
		t.Errorf("webhook deliveries %v, want 409 while the lease is fresh, then 200", statuses(ds))
	}
	if e.Task(pr.ID) != nil {
		t.Errorf("task not deleted")
	}
}

// A fresh lease means another request is sending the result right now: the
// webhook is answered 409 so that Replicate retries, nothing is sent, and
// when that request gives the lease up a retry delivers the result once.
func TestFreshDeliveryLeaseAsksForARetry(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.WebhookBackoff = 100 * time.Millisecond
	release := holdWebhooks(e)
	p := e.NewPhoto(4002)
	accepted(t, e.Send(p), p)
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	putLease(t, e, pr.ID, "working", time.Now())
	release()

	ds := e.RP.WaitDeliveries(t, 2, wait)
	for _, d := range ds[:2] {
		if d.Status != http.StatusConflict {
			t.Fatalf("webhook deliveries %v while another request holds the delivery, want 409s", statuses(ds))
		}
	}
	if n := len(e.TG.Calls("sendPhoto")); n != 0 {
		t.Fatalf("%d results sent while another request holds the delivery", n)
	}
	// The other request failed to send and released the lease.
	if err := e.Store.Delete(context.Background(), "deliveries/"+pr.ID+".json"); err != nil {
		t.Fatal(err)
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	e.Eventually("a delivery answered 200", wait, func() bool {
		ds := e.RP.Deliveries()
		return ds[len(ds)-1].Status == 200
	})
	e.RP.WaitIdle(t, wait)
	if n := len(e.TG.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results sent, want 1", n)
	}
}

// When the other request finishes the delivery instead, the retry finds it
// done: 200, and no second copy.
func TestDeliveryDoneByAnotherRequest(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.WebhookBackoff = 100 * time.Millisecond
	release := holdWebhooks(e)
	p := e.NewPhoto(4003)
	accepted(t, e.Send(p), p)
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	putLease(t, e, pr.ID, "working", time.Now())
	release()
	if d := e.RP.WaitDeliveries(t, 1, wait)[0]; d.Status != http.StatusConflict {
		t.Fatalf("first delivery: %d, want 409", d.Status)
	}
	putLease(t, e, pr.ID, "done", time.Now())
	e.Eventually("a delivery answered 200", wait, func() bool {
		ds := e.RP.Deliveries()
		return ds[len(ds)-1].Status == 200
	})
	if n := len(e.TG.Calls("sendPhoto")); n != 0 {
		t.Errorf("%d results sent by this request, want 0 (the other one sent it)", n)
	}
	e.Eventually("task deleted", wait, func() bool { return e.Task(pr.ID) == nil })
}

// S3 fails writes from the moment the prediction is made (503 SlowDown,
// for as long as Telegram redelivers): the update's claim has just been
// marked done (concurrently with the task's save), then the task cannot be
// saved and the claim cannot be released. The redelivery must not be taken
// for a duplicate of a photo that was handled.
func TestTaskNotSavedAndClaimNotReleased(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	h.S3.FailAlways(http.MethodPut, "tasks/", http.StatusServiceUnavailable, "SlowDown")
	h.S3.FailAlways(http.MethodDelete, "updates/", http.StatusServiceUnavailable, "SlowDown")
	p := h.NewPhoto(4004)
	p.Language = "en"
	deliveries := h.deliver(h.Update(p))
	h.settle(30 * time.Second)
	h.check(4004, wantBusy, deliveries)
}

// Every task PUT of the first delivery is refused (503 SlowDown) while the
// model takes 2 s: the prediction must be canceled before it finishes, so
// that the redelivery's prediction is the only one billed in full, and the
// user gets one result.
func TestUnsavedTaskIsCanceledBeforeTheModelFinishes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	// A model of a few seconds: the save's budget (1.5 s) and the cancel
	// that follows must come before it finishes. 2 s was too close on a
	// loaded 2-core machine (the cancel's round trips then took over
	// half a second); 5 s still tells "canceled first" from "finished".
	h.RP.RunTime = 5 * time.Second
	h.S3.FailAlways(http.MethodPut, "tasks/", http.StatusServiceUnavailable, "SlowDown")
	p := h.NewPhoto(4005)
	p.Language = "en"
	u := h.Update(p)
	status, _ := h.TG.DeliverUpdate(u)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("first delivery answered %d, want 503 (Telegram retries)", status)
	}
	// Canceled, not succeeded: the cancel came before the model's 5 s.
	first := h.RP.Predictions()
	if len(first) != 1 || first[0].Status != fake.StatusCanceled {
		t.Fatalf("after the first delivery: %v, want one canceled prediction", h.predictionStates())
	}
	h.S3.Clear()
	deliveries := append([]int{status}, h.deliver(u)...)
	h.settle(30 * time.Second)
	h.check(4005, wantResult, deliveries)
	succeeded := 0
	for _, pr := range h.RP.Predictions() {
		if pr.Status == fake.StatusSucceeded {
			succeeded++
		}
	}
	if succeeded != 1 {
		t.Errorf("%d predictions succeeded (%v), want 1", succeeded, h.predictionStates())
	}
	// The canceled prediction's webhook was expected: answered 200, once.
	for _, d := range h.RP.Deliveries() {
		if d.PredictionID == first[0].ID && d.Status != http.StatusOK {
			t.Errorf("webhook of the canceled prediction answered %d, want 200", d.Status)
		}
	}
}
