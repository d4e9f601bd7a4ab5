package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/internal/testenv"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// wait is how long a test waits for something it expects. Every wait
// ends as soon as what it waits for happens, so only a failing test pays
// it: it is sized for a loaded machine, not an idle one. (10 s was not
// enough for TestOutputs/big_image under make test on two busy cores:
// its 11 MB output crosses three HTTP hops, each copy checked by the race
// detector, and took 5-6 s with the e2e tests alone beside a CPU load.)
const wait = 60 * time.Second

// accepted checks the webhook's answer tells the user the photo was taken.
func accepted(t *testing.T, r testenv.Response, p *testenv.Photo) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("webhook answered %d %s, want 200", r.Status, r.Body)
	}
	m := r.JSON()
	if m["method"] != "sendMessage" || m["text"] != "Фото получил, обрабатываю…" || (p != nil && m["chat_id"] != float64(p.ChatID)) {
		t.Fatalf("webhook reply = %s, want sendMessage 'Фото получил, обрабатываю…'", r.Body)
	}
	rp, _ := m["reply_parameters"].(map[string]any)
	if p != nil && rp["message_id"] != float64(p.MessageID) {
		t.Errorf("reply_parameters = %v, want message_id %d", rp, p.MessageID)
	}
}

func replyTo(t *testing.T, c fake.Call) int {
	t.Helper()
	var rp struct {
		MessageID int `json:"message_id"`
	}
	if err := json.Unmarshal([]byte(c.Params["reply_parameters"]), &rp); err != nil {
		t.Fatalf("%s without reply_parameters: %v", c.Method, c.Params)
	}
	return rp.MessageID
}

func TestPhotoRoundTrip(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.RunTime = 300 * time.Millisecond // time to look at the bucket mid-way
	if err := admin.Setup(context.Background(), e.Bot, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The largest size is in the middle: the bot must compare areas.
	p := e.PhotoWithSizes(1001, [2]int{90, 60}, [2]int{1280, 853}, [2]int{320, 213})
	status, err := e.TG.DeliverUpdate(e.Update(p))
	if err != nil || status != http.StatusOK {
		t.Fatalf("Telegram's delivery: %d, %v", status, err)
	}

	// The user is told at once, through the webhook's answer.
	told := e.TG.WaitCalls(t, "sendMessage", 1, wait)[0]
	if told.Params["text"] != "Фото получил, обрабатываю…" || told.Params["chat_id"] != "1001" || told.Header.Get("X-Fake-Webhook-Reply") != "1" {
		t.Errorf("acceptance = %v (webhook reply: %q)", told.Params, told.Header.Get("X-Fake-Webhook-Reply"))
	}
	if got := e.TG.Calls("getFile")[0].Params["file_id"]; got != p.FileID {
		t.Errorf("getFile(%s), want the largest size %s", got, p.FileID)
	}

	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	if pr.Webhook != e.URL+"/webhook/replicate" || strings.Join(pr.EventsFilter, ",") != "completed" {
		t.Errorf("webhook %q filter %v", pr.Webhook, pr.EventsFilter)
	}
	if pr.Input["scale"] != float64(2) {
		t.Errorf("REPLICATE_INPUT not merged: input %v", pr.Input)
	}
	image, _ := pr.Input["image"].(string)
	u, err := url.Parse(image)
	if err != nil || u.Query().Get("X-Amz-Expires") != "3600" {
		t.Fatalf("image input %q is not a presigned URL valid 3600 s", image)
	}
	signedAt, err := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
	if err != nil || time.Since(signedAt) > time.Minute {
		t.Errorf("presigned at %v (%v)", signedAt, err)
	}
	key := strings.TrimPrefix(u.Path, "/"+e.Bucket+"/")
	if !strings.HasPrefix(key, "images/input/") || !strings.HasSuffix(key, ".jpg") {
		t.Errorf("photo stored at %q, want images/input/{uuid}.jpg", key)
	}

	// While the model runs: the photo and the task are in the bucket.
	stored, _, err := e.Store.Get(context.Background(), key)
	if err != nil || !bytes.Equal(stored, p.Largest) {
		t.Fatalf("stored photo: %d bytes (%v), want the %d bytes of the largest size", len(stored), err, len(p.Largest))
	}
	task := e.Task(pr.ID)
	if task == nil {
		t.Fatalf("no tasks/%s.json while the model runs", pr.ID)
	}
	if task.ChatID != 1001 || task.FileID != p.FileID || task.MessageID != p.MessageID || e.Clock.Now().Sub(time.Unix(task.Timestamp, 0)).Abs() > time.Minute {
		t.Errorf("task = %+v", task)
	}

	// The model read exactly the photo through the presigned URL.
	done := e.RP.WaitTerminal(t, pr.ID, wait)
	if !bytes.Equal(done.Fetched, p.Largest) {
		t.Errorf("the model fetched %d bytes, want the photo's %d", len(done.Fetched), len(p.Largest))
	}

	// The result reaches the user, as a reply to the photo.
	sent := e.TG.WaitCalls(t, "sendPhoto", 1, wait)[0]
	if sent.Params["chat_id"] != "1001" || replyTo(t, sent) != p.MessageID {
		t.Errorf("sendPhoto to %s replying to %d", sent.Params["chat_id"], replyTo(t, sent))
	}
	if !bytes.Equal(sent.Fetched["photo"], e.RP.OutputPNG) {
		t.Errorf("Telegram fetched %d bytes, want the model's output", len(sent.Fetched["photo"]))
	}
	if !strings.Contains(sent.Params["caption"], "Улучшить") {
		t.Errorf("caption %q does not name the model by its title", sent.Params["caption"])
	}

	// And the bookkeeping is gone: task and photo deleted.
	e.Eventually("task and photo deleted", wait, func() bool {
		return e.Task(pr.ID) == nil && len(e.Keys("images/")) == 0
	})
	if n := len(e.TG.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results sent, want 1", n)
	}
}

func TestFailedPrediction(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return fake.StatusFailed, nil, "CUDA out of memory"
	})
	p := e.NewPhoto(1002)
	p.Language = "en"
	r := e.Send(p)
	if r.Status != 200 || !strings.Contains(r.JSON()["text"].(string), "processing your photo") {
		t.Fatalf("answer %d %s, want the English acceptance", r.Status, r.Body)
	}
	msgs := e.TG.WaitCalls(t, "sendMessage", 1, wait)
	if got := msgs[0].Params["text"]; got != "The model ran out of memory on this photo. Please send a smaller one." || replyTo(t, msgs[0]) != p.MessageID {
		t.Errorf("user told %q", got)
	}
	pr := e.RP.Predictions()[0]
	e.Eventually("task deleted", wait, func() bool { return e.Task(pr.ID) == nil })
	if n := len(e.TG.Calls("sendPhoto")); n != 0 {
		t.Errorf("%d photos sent for a failed prediction", n)
	}
}

func TestListOutputIsAnAlbum(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	a := e.RP.ServeOutput("a.png", "image/png", fake.PNG(40, 30))
	b := e.RP.ServeOutput("b.png", "image/png", fake.PNG(30, 40))
	e.RP.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return fake.StatusSucceeded, []string{a, b}, ""
	})
	p := e.NewPhoto(1003)
	accepted(t, e.Send(p), p)
	album := e.TG.WaitCalls(t, "sendMediaGroup", 1, wait)[0]
	var media []map[string]any
	json.Unmarshal([]byte(album.Params["media"]), &media)
	if len(media) != 2 || media[0]["media"] != a || media[1]["media"] != b || media[0]["type"] != "photo" {
		t.Errorf("album media = %s", album.Params["media"])
	}
}

func TestRefusedURLIsUploaded(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.TG.FailNext("sendPhoto", 400, "Bad Request: failed to get HTTP URL content")
	p := e.NewPhoto(1004)
	e.Send(p)
	calls := e.TG.WaitCalls(t, "sendPhoto", 2, wait)
	if !strings.HasPrefix(calls[0].Params["photo"], "http") {
		t.Errorf("first try %q, want the output URL", calls[0].Params["photo"])
	}
	if !bytes.Equal(calls[1].Files["photo"], e.RP.OutputPNG) || calls[1].Error != "" {
		t.Errorf("second try uploaded %d bytes (error %q), want the output's %d", len(calls[1].Files["photo"]), calls[1].Error, len(e.RP.OutputPNG))
	}
	if replyTo(t, calls[1]) != p.MessageID {
		t.Errorf("upload does not reply to the photo")
	}
	// While photobot uploads, the user sees "sending photo…".
	if a := e.TG.WaitCalls(t, "sendChatAction", 1, wait)[0]; a.Params["action"] != "upload_photo" {
		t.Errorf("chat action %v while uploading", a.Params)
	}
}

func TestTelegramSecret(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	p := e.NewPhoto(1005)
	for _, secret := range []string{"", "wrong", testenv.WebhookSecret + "x", strings.ToUpper(testenv.WebhookSecret)} {
		if r := e.PostUpdate(e.Update(p), secret); r.Status != http.StatusUnauthorized {
			t.Errorf("secret %q: %d, want 401", secret, r.Status)
		}
	}
	if n := len(e.TG.Calls("")); n != 0 {
		t.Errorf("%d Telegram calls for forged updates", n)
	}
	if n := len(e.RP.Predictions()); n != 0 {
		t.Errorf("%d predictions for forged updates", n)
	}
}

// signed posts a prediction to the Replicate webhook, signed with secret's
// scheme by the fake at time ts.
func signed(e *testenv.Env, body []byte, ts time.Time, sign bool) testenv.Response {
	h := map[string]string{"webhook-id": "msg_test", "webhook-timestamp": fmt.Sprint(ts.Unix())}
	if sign {
		h["webhook-signature"] = e.RP.Sign("msg_test", ts, body)
	}
	return e.Post(httpapi.ReplicatePath, body, h)
}

func TestReplicateSignature(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.RunTime = time.Hour // the real webhook never comes during the test
	e.Send(e.NewPhoto(1006))
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	forged, _ := json.Marshal(map[string]any{"id": pr.ID, "status": "succeeded", "output": "https://evil.example/x.png"})
	now := time.Now()
	cases := map[string]testenv.Response{
		"unsigned":       signed(e, forged, now, false),
		"stale (6 min)":  signed(e, forged, now.Add(-6*time.Minute), true),
		"future (6 min)": signed(e, forged, now.Add(6*time.Minute), true),
	}
	h := map[string]string{"webhook-id": "msg_test", "webhook-timestamp": fmt.Sprint(now.Unix()),
		"webhook-signature": "v1,bm90IGEgc2lnbmF0dXJlIGF0IGFsbCBidXQgbG9uZyBlbm91Z2g="}
	cases["wrong signature"] = e.Post(httpapi.ReplicatePath, forged, h)
	other := e.RP.Sign("msg_test", now, []byte(`{"id":"`+pr.ID+`","status":"failed"}`))
	h["webhook-signature"] = other
	cases["signature of another body"] = e.Post(httpapi.ReplicatePath, forged, h)
	for name, r := range cases {
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, r.Status)
		}
	}
	if n := len(e.TG.Calls("sendPhoto")); n != 0 {
		t.Errorf("a forged webhook sent %d photos", n)
	}
	if e.Task(pr.ID) == nil {
		t.Errorf("a forged webhook removed the task")
	}
	// A good signature within the window is accepted.
	genuine, _ := json.Marshal(map[string]any{"id": pr.ID, "status": "failed", "error": "boom"})
	if r := signed(e, genuine, now.Add(-4*time.Minute), true); r.Status != http.StatusOK {
		t.Errorf("genuine webhook 4 minutes old: %d %s", r.Status, r.Body)
	}
}

func TestDuplicateUpdates(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	p := e.NewPhoto(1007)
	u := e.Update(p)
	accepted(t, e.PostUpdate(u, testenv.WebhookSecret), p)
	r := e.PostUpdate(u, testenv.WebhookSecret)
	if r.Status != 200 || len(r.Body) != 0 {
		t.Errorf("redelivered update: %d %s, want 200 and no second message", r.Status, r.Body)
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions for one update", n)
	}
}

func TestConcurrentDuplicateUpdates(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	p := e.NewPhoto(1008)
	u := e.Update(p)
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.PostUpdate(u, testenv.WebhookSecret).Status
		}()
	}
	wg.Wait()
	// Telegram redelivers what was not answered 2xx; at most until all are.
	for i, s := range statuses {
		for try := 0; s != 200 && try < 50; try++ {
			if s != http.StatusServiceUnavailable {
				t.Fatalf("delivery %d: %d, want 200 or 503", i, s)
			}
			time.Sleep(50 * time.Millisecond)
			s = e.PostUpdate(u, testenv.WebhookSecret).Status
		}
		if s != 200 {
			t.Fatalf("delivery %d never answered 200", i)
		}
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	e.RP.WaitIdle(t, wait)
	if got := len(e.RP.Predictions()); got != 1 {
		t.Errorf("%d predictions for %d concurrent deliveries of one update", got, n)
	}
	if got := len(e.TG.Calls("sendPhoto")); got != 1 {
		t.Errorf("%d results sent", got)
	}
}

func TestDuplicateWebhooks(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.DuplicateWebhooks = 4 // 5 concurrent deliveries of the same webhook
	e.Send(e.NewPhoto(1009))
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	pr := e.RP.Predictions()[0]
	e.Eventually("all deliveries answered 2xx", wait, func() bool {
		ok := 0
		for _, d := range e.RP.Deliveries() {
			if d.Status == 200 {
				ok++
			}
		}
		return ok >= 5
	})
	// Later duplicates, after the cleanup, are acknowledged and ignored.
	d := e.RP.Deliveries()[0]
	if again := e.RP.RedeliverWebhook(d); again.Status != 200 {
		t.Errorf("late duplicate: %d, want 200", again.Status)
	}
	if n := len(e.TG.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results sent for one prediction", n)
	}
	if e.Task(pr.ID) != nil {
		t.Errorf("task not removed")
	}
}

func TestWebhookBeforeTaskIsSaved(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.WebhookBeforeResponse = true
	e.Send(e.NewPhoto(1010))
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	// Replicate retries until a 200, one attempt after another: once one
	// is recorded, the retries are over.
	e.Eventually("a retry answered 200", wait, func() bool {
		ds := e.RP.Deliveries()
		return len(ds) >= 2 && ds[len(ds)-1].Status == http.StatusOK
	})
	ds := e.RP.Deliveries()
	for _, d := range ds[:len(ds)-1] {
		if d.Status != http.StatusNotFound {
			t.Fatalf("deliveries %v: want 404s (no task yet), then a 200", statuses(ds))
		}
	}
	if !strings.Contains(e.Logs.String(), "no task for this prediction") {
		t.Errorf("no warning logged")
	}
	if n := len(e.TG.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results", n)
	}
}

func statuses(ds []fake.Delivery) []int {
	var s []int
	for _, d := range ds {
		s = append(s, d.Status)
	}
	return s
}

func TestUnknownAndInvalidPredictions(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	now := time.Now()
	unknown := []byte(`{"id":"zzzzzzzzzzzzzzzzzzzzzzzzzz","status":"succeeded","output":"https://x/y.png"}`)
	if r := signed(e, unknown, now, true); r.Status != http.StatusNotFound {
		t.Errorf("unknown prediction: %d, want 404 (Replicate retries)", r.Status)
	}
	for _, id := range []string{"../tasks/abc", "ABC", "a.b", "", "a/b", strings.Repeat("a", 100)} {
		body, _ := json.Marshal(map[string]any{"id": id, "status": "succeeded"})
		if r := signed(e, body, now, true); r.Status != http.StatusBadRequest {
			t.Errorf("id %q: %d, want 400", id, r.Status)
		}
	}
	if r := signed(e, []byte(`{"id": "abc", "status": `), now, true); r.Status != http.StatusBadRequest {
		t.Errorf("malformed prediction: %d, want 400", r.Status)
	}
	if r := e.Post(httpapi.TelegramPath, []byte(`{"update_id": 1, "message": {`), map[string]string{httpapi.SecretHeader: testenv.WebhookSecret}); r.Status != http.StatusBadRequest {
		t.Errorf("malformed update: %d, want 400", r.Status)
	}
	if n := len(e.TG.Calls("")); n != 0 {
		t.Errorf("%d Telegram calls", n)
	}
}

func TestBigFile(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.TG.AddBigFile("AgACbig", 25<<20)
	u := map[string]any{"update_id": 55, "message": map[string]any{
		"message_id": 9, "date": e.Clock.Now().Unix(),
		"from": map[string]any{"id": 1011, "language_code": "en"}, "chat": map[string]any{"id": 1011, "type": "private"},
		"photo": []map[string]any{{"file_id": "AgACbig", "file_unique_id": "x", "width": 8000, "height": 6000, "file_size": 25 << 20}},
	}}
	r := e.PostUpdate(u, testenv.WebhookSecret)
	if r.Status != 200 || !strings.Contains(r.JSON()["text"].(string), "too big") {
		t.Errorf("answer %d %s, want 200 and 'too big'", r.Status, r.Body)
	}
	if n := len(e.TG.Calls("getFile")); n != 0 {
		t.Errorf("%d getFile calls for a file bots cannot download", n)
	}
}

func TestGetFile5xxOnceIsRetried(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.TG.FailNext("getFile", 500, "Internal Server Error")
	p := e.NewPhoto(1012)
	accepted(t, e.Send(p), p)
	if n := len(e.TG.Calls("getFile")); n != 2 {
		t.Errorf("%d getFile calls, want 2", n)
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
}

func TestReplicate429ThenSuccess(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.FailNext("create", 429, `{"detail":"Request was throttled. Expected available in 1 second.","status":429}`)
	p := e.NewPhoto(1013)
	accepted(t, e.Send(p), p)
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions", n)
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
}

func TestReplicate422TellsTheUser(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.FailNext("create", 422, `{"title":"Input validation failed","detail":"- input.image: Does not match format 'uri'","status":422}`)
	p := e.NewPhoto(1014)
	r := e.Send(p)
	text, _ := r.JSON()["text"].(string)
	if r.Status != 200 || !strings.Contains(text, "Модель не смогла прочитать это фото") || strings.Contains(text, "input.image") {
		t.Fatalf("answer %d %s, want 200 in plain words, without the model's raw reason", r.Status, r.Body)
	}
	if !strings.Contains(e.Logs.String(), "input.image: Does not match format") {
		t.Errorf("the model's reason is not in the operator's log")
	}
	// A redelivery does not try again: the update is done.
	if r := e.Send(p); r.Status != 200 || len(r.Body) != 0 {
		t.Errorf("redelivery: %d %s", r.Status, r.Body)
	}
	if n := len(e.RP.Predictions()); n != 0 {
		t.Errorf("%d predictions", n)
	}
}

func TestTransientFailureIsRetriedByTelegram(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.FailNext("create", 500, `{"title":"Internal Server Error","status":500}`)
	p := e.NewPhoto(1015)
	if r := e.Send(p); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("first delivery: %d %s, want 503 so that Telegram retries", r.Status, r.Body)
	}
	accepted(t, e.Send(p), p)
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions", n)
	}
}

func TestOldMessageGivesUpWithAClearMessage(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.FailAlways("create", 503, `{"title":"Service Unavailable","status":503}`)
	p := e.NewPhoto(1016)
	p.Date = e.Clock.Now().Add(-11 * time.Minute) // redelivered for 11 minutes already
	r := e.Send(p)
	text, _ := r.JSON()["text"].(string)
	if r.Status != 200 || !strings.Contains(text, "перегружен") {
		t.Errorf("answer %d %s, want 200 and 'busy' so the chat's queue moves on", r.Status, r.Body)
	}
}

func TestTextAndStickers(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	text := map[string]any{"update_id": 70, "message": map[string]any{"message_id": 1, "date": e.Clock.Now().Unix(),
		"from": map[string]any{"id": 1017, "language_code": "ru"}, "chat": map[string]any{"id": 1017, "type": "private"}, "text": "привет"}}
	r := e.PostUpdate(text, testenv.WebhookSecret)
	if r.Status != 200 || !strings.Contains(r.JSON()["text"].(string), "Пришлите фото") {
		t.Errorf("text: %d %s", r.Status, r.Body)
	}
	edited := map[string]any{"update_id": 71, "edited_message": map[string]any{"message_id": 1, "date": 1, "chat": map[string]any{"id": 1017, "type": "private"}, "text": "x"}}
	if r := e.PostUpdate(edited, testenv.WebhookSecret); r.Status != 200 || len(r.Body) != 0 {
		t.Errorf("edited message: %d %s, want 200 and nothing", r.Status, r.Body)
	}
}
