package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

func vars(kv ...string) func(map[string]string) {
	return func(v map[string]string) {
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i]] = kv[i+1]
		}
	}
}

func message(chatID int64, lang string, fields map[string]any) map[string]any {
	m := map[string]any{"message_id": 77, "date": time.Now().Unix(),
		"from": map[string]any{"id": chatID, "username": "user" + lang, "language_code": lang},
		"chat": map[string]any{"id": chatID, "type": "private"}}
	for k, v := range fields {
		m[k] = v
	}
	return map[string]any{"update_id": time.Now().UnixNano() % 1e9, "message": m}
}

func text(r testenv.Response) string {
	s, _ := r.JSON()["text"].(string)
	return s
}

func TestHelpNamesTheModelInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	// The single model is named by its title (REPLICATE_TITLE, else a
	// generic one), never by its repository.
	title := map[string]string{"ru": "Улучшить", "en": "Enhance", "de": "Enhance"}
	for lang, want := range map[string]string{"ru": "Пришлите фото", "en": "Send me a photo", "de": "Send me a photo"} {
		for _, cmd := range []string{"/start", "/help", "hello"} {
			r := e.PostUpdate(message(3001, lang, map[string]any{"text": cmd}), testenv.WebhookSecret)
			if got := text(r); !strings.Contains(got, want) || !strings.Contains(got, title[lang]) || strings.Contains(got, "acme/photo-restore") {
				t.Errorf("%s %q: %q", lang, cmd, got)
			}
		}
	}
}

func TestCaptionBecomesThePrompt(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, vars("REPLICATE_PROMPT_FIELD", "prompt"))
	p := e.NewPhoto(3002)
	p.Caption = "  make it a watercolor  "
	e.Send(p)
	q := e.NewPhoto(3002)
	e.Send(q)
	preds := e.RP.WaitPredictions(t, 2, wait)
	if preds[0].Input["prompt"] != "make it a watercolor" {
		t.Errorf("prompt = %v", preds[0].Input["prompt"])
	}
	if _, ok := preds[1].Input["prompt"]; ok {
		t.Errorf("a photo without caption sent a prompt: %v", preds[1].Input)
	}
	if preds[0].Header.Get("Cancel-After") != "600s" {
		t.Errorf("Cancel-After = %q, want the 10 minute default", preds[0].Header.Get("Cancel-After"))
	}
}

func TestImagesSentAsFiles(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	e.RP.RunTime = 300 * time.Millisecond
	png := fake.PNG(120, 80)
	e.TG.AddFile("BQACdocpng", png)
	r := e.PostUpdate(message(3003, "en", map[string]any{"document": map[string]any{
		"file_id": "BQACdocpng", "file_unique_id": "d1", "file_name": "cat.png", "mime_type": "image/png", "file_size": len(png)}}), testenv.WebhookSecret)
	if r.Status != 200 || !strings.Contains(text(r), "processing your photo") {
		t.Fatalf("png document: %d %s", r.Status, r.Body)
	}
	keys := e.Keys("images/input/")
	if len(keys) != 1 || !strings.HasSuffix(keys[0], ".png") {
		t.Fatalf("stored %v, want one .png", keys)
	}
	stored, _, _ := e.Store.Get(context.Background(), keys[0])
	if !bytes.Equal(stored, png) {
		t.Errorf("stored bytes differ")
	}
	if got := e.RP.WaitTerminal(t, e.RP.Predictions()[0].ID, wait).Fetched; !bytes.Equal(got, png) {
		t.Errorf("model read %d bytes", len(got))
	}

	for name, fields := range map[string]map[string]any{
		"pdf":     {"document": map[string]any{"file_id": "BQACpdf", "file_unique_id": "d2", "mime_type": "application/pdf", "file_size": 1000}},
		"sticker": {"sticker": map[string]any{"file_id": "CAACst", "file_unique_id": "s", "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false}},
		"voice":   {"voice": map[string]any{"file_id": "AwACvo", "file_unique_id": "v", "duration": 2}},
	} {
		r := e.PostUpdate(message(3003, "en", fields), testenv.WebhookSecret)
		if r.Status != 200 || !strings.Contains(text(r), "send a photo") {
			t.Errorf("%s: %d %s, want a polite 'send a photo'", name, r.Status, r.Body)
		}
	}
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions", n)
	}
}

func TestAlbumIsAcknowledgedOnce(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, vars("MAX_ACTIVE_PER_USER", "5"))
	var wg sync.WaitGroup
	answers := make([]testenv.Response, 3)
	for i := range answers {
		p := e.NewPhoto(3004)
		u := e.Update(p)
		u["message"].(map[string]any)["media_group_id"] = "13771377137713771"
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = e.PostUpdate(u, testenv.WebhookSecret)
		}()
	}
	wg.Wait()
	told := 0
	for _, a := range answers {
		if a.Status != 200 {
			t.Fatalf("album photo answered %d %s", a.Status, a.Body)
		}
		if len(a.Body) > 0 {
			told++
			if !strings.Contains(text(a), "Альбом получил") {
				t.Errorf("told %q", text(a))
			}
		}
	}
	if told != 1 {
		t.Errorf("user told %d times for one album, want once", told)
	}
	sent := e.TG.WaitCalls(t, "sendPhoto", 3, wait)
	replies := map[int]bool{}
	for _, c := range sent {
		replies[replyTo(t, c)] = true
	}
	if len(replies) != 3 {
		t.Errorf("results reply to %v, want each its own photo", replies)
	}
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte{0}, 11<<20) // over the 10 MB of a photo upload
	copy(big, fake.PNG(10, 10))
	cases := []struct {
		name   string
		output func(e *testenv.Env) any
		check  func(t *testing.T, e *testenv.Env)
	}{
		{"text chunks", func(*testenv.Env) any { return []string{"A cat ", "on a ", "mat."} }, func(t *testing.T, e *testenv.Env) {
			m := e.TG.WaitCalls(t, "sendMessage", 1, wait)[0]
			if m.Params["text"] != "A cat on a mat." {
				t.Errorf("text output sent as %q", m.Params["text"])
			}
		}},
		{"big image", func(e *testenv.Env) any { return e.RP.ServeOutput("big.png", "image/png", big) }, func(t *testing.T, e *testenv.Env) {
			d := e.TG.WaitCalls(t, "sendDocument", 1, wait)[0]
			if len(d.Files["document"]) != len(big) {
				t.Errorf("document of %d bytes, want %d", len(d.Files["document"]), len(big))
			}
		}},
		{"unusual format", func(e *testenv.Env) any {
			return e.RP.ServeOutput("model.zip", "application/zip", []byte("PK\x03\x04zip"))
		}, func(t *testing.T, e *testenv.Env) {
			d := e.TG.WaitCalls(t, "sendDocument", 1, wait)[0]
			if !strings.HasSuffix(d.Params["document"], "model.zip") {
				t.Errorf("document %q", d.Params["document"])
			}
		}},
		{"caption", func(e *testenv.Env) any { return nil }, func(t *testing.T, e *testenv.Env) {
			c := e.TG.WaitCalls(t, "sendPhoto", 1, wait)[0].Params["caption"]
			if !strings.HasPrefix(c, "Улучшить · ") || !strings.HasSuffix(c, " с") {
				t.Errorf("caption %q, want the model's title and the time", c)
			}
			// Sent by URL: nothing waits in front of it.
			if n := len(e.TG.Calls("sendChatAction")); n != 0 {
				t.Errorf("%d chat actions before a send by URL", n)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t)
			e.RP.RunTime = 150 * time.Millisecond // long enough to be named in the caption
			out := tc.output(e)
			if out != nil {
				e.RP.SetModelFunc(func(map[string]any, []byte) (string, any, string) { return fake.StatusSucceeded, out, "" })
			}
			p := e.NewPhoto(3005)
			e.Send(p)
			tc.check(t, e)
		})
	}
}

func TestAllowedUsers(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, vars("ALLOWED_USERS", "3006, @Friend"))
	stranger := e.NewPhoto(3007)
	r := e.Send(stranger)
	if r.Status != 200 || !strings.Contains(text(r), "Это закрытый бот. Ваш ID: 3007") {
		t.Errorf("stranger: %d %s", r.Status, r.Body)
	}
	if n := len(e.TG.Calls("getFile")); n != 0 {
		t.Errorf("a stranger's photo cost %d getFile calls", n)
	}
	friend := message(3008, "en", map[string]any{"text": "/start"})
	friend["message"].(map[string]any)["from"].(map[string]any)["username"] = "friend"
	if r := e.PostUpdate(friend, testenv.WebhookSecret); !strings.Contains(text(r), "Send me a photo") {
		t.Errorf("@friend: %s", r.Body)
	}
	accepted(t, e.Send(e.NewPhoto(3006)), nil)
}

func TestLimitsHoldUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, vars("MAX_ACTIVE_PER_USER", "0", "DAILY_LIMIT_PER_USER", "5"))
	e.RP.RunTime = time.Hour
	const n = 20
	answers := make([]testenv.Response, n)
	var wg sync.WaitGroup
	for i := range answers {
		p := e.NewPhoto(3009)
		u := e.Update(p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = e.PostUpdate(u, testenv.WebhookSecret)
		}()
	}
	wg.Wait()
	refused := 0
	for _, a := range answers {
		if a.Status != http.StatusOK {
			t.Fatalf("answer %d %s", a.Status, a.Body)
		}
		if strings.Contains(text(a), "На сегодня всё") {
			refused++
		}
	}
	if got := len(e.RP.Predictions()); got != 5 || refused != n-5 {
		t.Errorf("%d predictions and %d refusals for %d concurrent photos under a daily limit of 5", got, refused, n)
	}
}

func TestActiveLimitFreesOnDeliveryAndAdminsAreExempt(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, vars("MAX_ACTIVE_PER_USER", "1", "ADMIN_USERS", "3011"))
	e.RP.RunTime = 400 * time.Millisecond
	first := e.NewPhoto(3010)
	accepted(t, e.Send(first), first)
	if r := e.Send(e.NewPhoto(3010)); !strings.Contains(text(r), "уже обрабатывается 1 фото") {
		t.Errorf("second photo in flight: %s", r.Body)
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	e.Eventually("slot freed", wait, func() bool {
		r := e.Send(e.NewPhoto(3010))
		return strings.Contains(text(r), "Фото получил")
	})
	for i := 0; i < 3; i++ {
		p := e.NewPhoto(3011)
		accepted(t, e.Send(p), p)
	}
}

func TestDeadlineExpiredIsExplained(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, vars("PREDICTION_DEADLINE", "5s"))
	e.RP.QueueTime = time.Hour // never starts: Replicate aborts it at the deadline
	p := e.NewPhoto(3012)
	e.Send(p)
	if got := e.RP.WaitPredictions(t, 1, wait)[0].Header.Get("Cancel-After"); got != "5s" {
		t.Fatalf("Cancel-After %q", got)
	}
	m := e.TG.WaitCalls(t, "sendMessage", 1, wait)[0]
	if !strings.Contains(m.Params["text"], "так и не взялась") {
		t.Errorf("user told %q", m.Params["text"])
	}
}
