package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// A menu of two effects through `photobot serve`, MinIO and the fakes, as
// Telegram delivers it: the photo gets the menu, a press starts one
// prediction, the result arrives at full quality as a file, and a press of
// Cancel leaves no result behind.

const menuEffects = `[
 {"id":"upscale","title":{"en":"Upscale ×2","ru":"Увеличить ×2"},"model":"acme/photo-restore","input":{"scale":2},"send":"both"},
 {"id":"nobg","title":{"en":"Remove background","ru":"Убрать фон"},"model":"acme/rembg","send":"document"}]`

func menuEnv(t *testing.T) *testenv.Env {
	e := testenv.New(t, func(v map[string]string) {
		delete(v, "REPLICATE_MODEL")
		delete(v, "REPLICATE_INPUT")
		v["EFFECTS"] = menuEffects
	})
	e.RP.SetModel("acme", "rembg", "", "image")
	if err := admin.Setup(context.Background(), e.Bot, io.Discard); err != nil {
		t.Fatal(err)
	}
	return e
}

// botMessage waits for the bot's message in chat whose keyboard holds data.
func botMessage(t *testing.T, e *testenv.Env, chat int64, data string) fake.Message {
	t.Helper()
	var found fake.Message
	e.Eventually("a message with the button "+data, wait, func() bool {
		for _, m := range e.TG.Messages(chat) {
			if m.FromBot && slices.Contains(m.Keyboard.Data(), data) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func deliver(t *testing.T, e *testenv.Env, update any) {
	t.Helper()
	status, err := e.TG.DeliverUpdate(update)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Telegram's delivery: %d, %v", status, err)
	}
}

func TestMenuToAFileAndACancel(t *testing.T) {
	t.Parallel()
	e := menuEnv(t)
	e.RP.RunTime = 150 * time.Millisecond // long enough to be named in the caption
	transparent := fake.PNG(64, 48)       // a PNG with an alpha channel
	out := e.RP.ServeOutput("nobg.png", "image/png", transparent)
	e.RP.SetModelFunc(func(in map[string]any, _ []byte) (string, any, string) { return fake.StatusSucceeded, out, "" })
	p := e.NewPhoto(6001)
	p.Language = "en"
	deliver(t, e, e.Update(p))

	// The menu: nothing downloaded, nothing billed.
	menu := botMessage(t, e, p.ChatID, "e:nobg")
	if menu.Text != "What should I do with this photo?" || menu.ReplyTo != p.MessageID || !slices.Equal(menu.Keyboard.Data(), []string{"e:upscale", "e:nobg"}) {
		t.Errorf("menu %+v", menu)
	}
	if n := len(e.TG.Calls("getFile")) + len(e.RP.Predictions()); n != 0 {
		t.Errorf("%d calls before a choice", n)
	}

	// A double tap: two presses, one prediction; both answered.
	user := fake.User{ID: p.ChatID, LanguageCode: "en"}
	first := e.TG.Press(t, p.ChatID, menu.ID, "e:nobg", user)
	second := e.TG.Press(t, p.ChatID, menu.ID, "e:nobg", user)
	deliver(t, e, first)
	deliver(t, e, second)
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	if pr.Model != "acme/rembg" {
		t.Errorf("prediction of %s", pr.Model)
	}

	// The result: the model's file itself, as a document replying to the photo.
	doc := e.TG.WaitCalls(t, "sendDocument", 1, wait)[0]
	sent, ok := e.TG.Message(p.ChatID, messageID(t, doc))
	if !ok || sent.File == nil {
		t.Fatalf("document not stored: %+v", doc)
	}
	if !bytes.Equal(sent.File.Data, transparent) || sent.File.Name != "nobg.png" || sent.File.MimeType != "image/png" {
		t.Errorf("document %q %s, %d bytes; want nobg.png, image/png, the model's %d bytes untouched",
			sent.File.Name, sent.File.MimeType, len(sent.File.Data), len(transparent))
	}
	if sent.ReplyTo != p.MessageID || !strings.HasPrefix(sent.Text, "Remove background · ") ||
		!slices.Equal(sent.Keyboard.Data(), []string{"a:nobg", "m"}) {
		t.Errorf("result %+v", sent)
	}
	if n := len(e.TG.Calls("sendPhoto")); n != 0 {
		t.Errorf("%d photos for send: document", n)
	}
	// The menu became the status, and says it is over: no stale Cancel.
	e.Eventually("the status says done", wait, func() bool {
		m, _ := e.TG.Message(p.ChatID, menu.ID)
		return strings.HasPrefix(m.Text, "✅ Remove background: done") && len(m.Keyboard) == 0
	})
	m, _ := e.TG.Message(p.ChatID, menu.ID)
	if len(m.History) < 3 || !strings.HasPrefix(m.History[1].Text, "⏳ Remove background") || m.History[1].Keyboard.Data()[0] != "x:e_nobg" {
		t.Errorf("status history %+v", m.History)
	}
	for _, press := range e.TG.Presses() {
		if n := answered(press); n != 1 {
			t.Errorf("press %s answered %d times", press.ID, n)
		}
	}
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions for a double tap", n)
	}

	// Other effects, then Upscale, then Cancel while it runs; the model
	// finishes anyway, after the cancel came.
	e.RP.FinishAfterCancel = 300 * time.Millisecond
	e.RP.RunTime = time.Hour
	e.RP.SetModelFunc(nil)
	deliver(t, e, e.TG.Press(t, p.ChatID, sent.ID, "m", user))
	menu2 := latest(t, e, p.ChatID, "e:upscale", menu.ID)
	deliver(t, e, e.TG.Press(t, p.ChatID, menu2.ID, "e:upscale", user))
	up := e.RP.WaitPredictions(t, 2, wait)[1]
	status := botMessage(t, e, p.ChatID, "x:e_upscale")
	deliver(t, e, e.TG.Press(t, p.ChatID, status.ID, "x:e_upscale", user))
	if c := e.RP.Canceled(); !slices.Contains(c, up.ID) {
		t.Errorf("not canceled at Replicate: %v", c)
	}
	m, _ = e.TG.Message(p.ChatID, status.ID)
	if m.Text != "⏹ Upscale ×2: canceled" || !slices.Equal(m.Keyboard.Data(), []string{"a:upscale", "m"}) {
		t.Errorf("after Cancel: %q %v", m.Text, m.Keyboard.Data())
	}
	e.Eventually("the late webhook answered", wait, func() bool {
		for _, d := range e.RP.Deliveries() {
			if d.PredictionID == up.ID && d.Status == http.StatusOK {
				return true
			}
		}
		return false
	})
	if done, _ := e.RP.Prediction(up.ID); done.Status != fake.StatusSucceeded {
		t.Fatalf("the model was to finish after the cancel: %s", done.Status)
	}
	if n := len(e.TG.Calls("sendPhoto")) + len(e.TG.Calls("sendDocument")); n != 1 {
		t.Errorf("%d results sent; the canceled prediction must send none", n)
	}
	e.Eventually("task and photo deleted", wait, func() bool { return e.Task(up.ID) == nil && len(e.Keys("images/")) == 0 })
}

// send: both gives the photo as a preview, then the file; the buttons go
// under the file.
func TestBothSendsAPreviewAndTheFile(t *testing.T) {
	t.Parallel()
	e := menuEnv(t)
	p := e.NewPhoto(6002)
	p.Caption = "/upscale"
	deliver(t, e, e.Update(p))
	photo := e.TG.WaitCalls(t, "sendPhoto", 1, wait)[0]
	doc := e.TG.WaitCalls(t, "sendDocument", 1, wait)[0]
	if !photo.At.Before(doc.At) || replyTo(t, photo) != p.MessageID || replyTo(t, doc) != p.MessageID {
		t.Errorf("preview at %v, file at %v", photo.At, doc.At)
	}
	if !bytes.Equal(doc.Files["document"], e.RP.OutputPNG) || photo.Params["reply_markup"] != "" {
		t.Errorf("file %d bytes (want %d); preview buttons %q", len(doc.Files["document"]), len(e.RP.OutputPNG), photo.Params["reply_markup"])
	}
	told := e.TG.Calls("sendMessage")
	if len(told) != 1 || told[0].Params["text"] != "Фото получил, запускаю «Увеличить ×2»…" {
		t.Errorf("told %v", told)
	}
}

// A press whose photo was deleted gets a clear "send it again", and costs
// nothing.
func TestPressOnAGonePhoto(t *testing.T) {
	t.Parallel()
	e := menuEnv(t)
	p := e.NewPhoto(6003)
	deliver(t, e, e.Update(p))
	menu := botMessage(t, e, p.ChatID, "e:upscale")
	e.TG.DeleteMessage(p.ChatID, p.MessageID)
	deliver(t, e, e.TG.Press(t, p.ChatID, menu.ID, "e:upscale", fake.User{ID: p.ChatID, LanguageCode: "ru"}))
	presses := e.TG.Presses()
	if a := presses[len(presses)-1].Answers; len(a) != 1 || !a[0].ShowAlert || !strings.Contains(a[0].Text, "пришлите его ещё раз") {
		t.Errorf("answers %+v", a)
	}
	if n := len(e.RP.Predictions()); n != 0 {
		t.Errorf("%d predictions", n)
	}
}

func answered(p fake.ButtonPress) int {
	n := 0
	for _, a := range p.Answers {
		if a.Error == "" {
			n++
		}
	}
	return n
}

func messageID(t *testing.T, c fake.Call) int {
	t.Helper()
	var m struct {
		MessageID int `json:"message_id"`
	}
	if err := json.Unmarshal(c.Result, &m); err != nil {
		t.Fatalf("%s result %s", c.Method, c.Result)
	}
	return m.MessageID
}

// latest waits for a bot message with the button data newer than after.
func latest(t *testing.T, e *testenv.Env, chat int64, data string, after int) fake.Message {
	t.Helper()
	var found fake.Message
	e.Eventually("a new message with "+data, wait, func() bool {
		for _, m := range e.TG.Messages(chat) {
			if m.FromBot && m.ID > after && slices.Contains(m.Keyboard.Data(), data) {
				found = m
			}
		}
		return found.ID != 0
	})
	return found
}
