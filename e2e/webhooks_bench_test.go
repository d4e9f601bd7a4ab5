package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/pipeline"
)

// The two webhooks end to end, in process: the handler `photobot serve`
// runs, against a real MinIO and the fakes of Telegram and Replicate
// (internal/testenv). Requests go straight to the handler (no HTTP server
// or client on the Telegram or Replicate side), logging at the default
// level into io.Discard. B/op and allocs/op count every allocation of the
// process during the loop, so they include the fakes' side of each call.
//
//	go test -run '^$' -bench Webhook -benchmem ./e2e

// benchEnv is a deployment whose bot logs as `photobot serve` does by
// default (info, JSON) into io.Discard, and the handler serve runs.
func benchEnv(b *testing.B) (*testenv.Env, http.Handler) {
	e := testenv.New(b, func(v map[string]string) { v["LOG_LEVEL"] = "info" })
	e.Logs.Discard = true
	return e, e.Bot.Handler()
}

// benchPhoto is the largest size of the photos: a 1280x960 JPEG.
var benchPhoto = fake.JPEG(1280, 960)

// BenchmarkTelegramWebhook delivers one photo update per iteration, each
// from another user: getFile, download, store and presign the photo, claim
// the update, create the prediction, save the task, answer "accepted".
// The fake Replicate keeps the predictions queued, so no model runs and no
// Replicate webhook comes back during the loop.
func BenchmarkTelegramWebhook(b *testing.B) {
	e, h := benchEnv(b)
	e.RP.QueueTime = time.Hour
	small := fake.JPEG(90, 68)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		p := e.PhotoWithSizes(int64(300_000_000+i), [2]int{90, 68}, [2]int{1280, 960})
		bodies[i] = benchUpdate(e, p, small)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, httpapi.TelegramPath, bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(httpapi.SecretHeader, testenv.WebhookSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"sendMessage"`)) {
			b.Fatalf("update %d answered %d %s", i, rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	if n := len(e.RP.Predictions()); n != b.N {
		b.Fatalf("%d predictions for %d photos", n, b.N)
	}
}

// benchUpdate is a photo update with two sizes whose files the fake
// Telegram serves (the same bytes for every photo: no JPEG is encoded in
// the loop).
func benchUpdate(e *testenv.Env, p *testenv.Photo, small []byte) []byte {
	var sizes []map[string]any
	for i, data := range [][]byte{small, benchPhoto} {
		id := fmt.Sprintf("AgACAgIAAxkBAAI%d_%d", p.UpdateID, i)
		e.TG.AddFile(id, data)
		sizes = append(sizes, map[string]any{"file_id": id, "file_unique_id": fmt.Sprintf("AQAD%d%d", p.UpdateID, i),
			"width": p.Sizes[i][0], "height": p.Sizes[i][1], "file_size": len(data)})
	}
	from := map[string]any{"id": p.ChatID, "is_bot": false, "first_name": "Anna", "language_code": "ru"}
	body, err := json.Marshal(map[string]any{"update_id": p.UpdateID, "message": map[string]any{
		"message_id": p.MessageID, "from": from, "date": time.Now().Unix(), "photo": sizes,
		"chat": map[string]any{"id": p.ChatID, "first_name": "Anna", "type": "private"},
	}})
	if err != nil {
		panic(err)
	}
	return body
}

// BenchmarkReplicateWebhook delivers one signed, completed prediction per
// iteration, whose task (and photo) were saved beforehand: verify, load
// the task, claim the delivery, sendPhoto (the fake Telegram fetches the
// output from the fake Replicate), mark it delivered, delete the task and
// the photo.
func BenchmarkReplicateWebhook(b *testing.B) {
	e, h := benchEnv(b)
	golden, err := os.ReadFile("../testdata/replicate/prediction_succeeded_string.json")
	if err != nil {
		b.Fatal(err)
	}
	output := e.RP.ServeOutput("result.png", "image/png", fake.PNG(64, 48))
	type delivery struct {
		body []byte
		hdr  http.Header
	}
	ds := make([]delivery, b.N)
	ctx := context.Background()
	for i := range ds {
		id := benchPredictionID()
		task, _ := json.Marshal(pipeline.Task{ChatID: int64(400_000_000 + i), FileID: "AgACAgIAAxkBAAIbench", Timestamp: e.Clock.Now().Unix(),
			MessageID: 1000 + i, UpdateID: int64(900_000_000 + i), UserID: int64(400_000_000 + i), Language: "ru",
			Image: "images/input/" + id + ".jpg"})
		if err := e.Store.Put(ctx, "tasks/"+id+".json", bytes.NewReader(task), int64(len(task)), "application/json"); err != nil {
			b.Fatal(err)
		}
		if err := e.Store.Put(ctx, "images/input/"+id+".jpg", bytes.NewReader(benchPhoto), int64(len(benchPhoto)), "image/jpeg"); err != nil {
			b.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal(golden, &p); err != nil {
			b.Fatal(err)
		}
		p["id"], p["output"] = id, output
		body, _ := json.Marshal(p)
		msgID := "msg_" + id
		now := time.Now()
		ds[i] = delivery{body, http.Header{
			"Content-Type":      {"application/json"},
			"Webhook-Id":        {msgID},
			"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
			"Webhook-Signature": {e.RP.Sign(msgID, now, body)},
		}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, httpapi.ReplicatePath, bytes.NewReader(ds[i].body))
		req.Header = ds[i].hdr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("webhook %d answered %d %s", i, rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	if n := len(e.TG.Calls("sendPhoto")); n != b.N {
		b.Fatalf("%d results sent for %d predictions", n, b.N)
	}
}

// benchPredictionID is a Replicate-shaped prediction id (26 lowercase
// letters and digits).
func benchPredictionID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 26)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}
