package e2e_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// A restyle through `photobot serve`, MinIO and the fakes: the press asks
// for a prompt, the reply starts the prediction (once), the status shows
// the model's start, and the result carries the prompt, Again and Another
// prompt.

const restyleEffects = `[
 {"id":"upscale","title":{"en":"Upscale ×2","ru":"Увеличить ×2"},"model":"acme/photo-restore","input":{"scale":2}},
 {"id":"restyle","title":{"en":"Restyle","ru":"Стиль"},"model":"black-forest-labs/flux-kontext-pro",
  "image_field":"input_image","prompt_field":"prompt","input":{"output_format":"png"},
  "prompt":"required","prompt_hint":{"en":"Describe the style: watercolor, anime, oil painting…"},"progress":true}]`

func TestRestyleAsksForThePromptAndShowsProgress(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, func(v map[string]string) {
		delete(v, "REPLICATE_MODEL")
		delete(v, "REPLICATE_INPUT")
		v["EFFECTS"] = restyleEffects
	})
	e.RP.SetModel("black-forest-labs", "flux-kontext-pro", "", "input_image", "prompt", "output_format")
	e.RP.ImageField = "input_image"
	e.RP.QueueTime, e.RP.RunTime = 300*time.Millisecond, 300*time.Millisecond
	if err := admin.Setup(context.Background(), e.Bot, io.Discard); err != nil {
		t.Fatal(err)
	}
	p := e.NewPhoto(6101)
	p.Language = "en"
	user := fake.User{ID: p.ChatID, LanguageCode: "en"}
	deliver(t, e, e.Update(p))
	menu := botMessage(t, e, p.ChatID, "e:restyle")

	// The press asks: a question replying to the photo, with a ForceReply.
	deliver(t, e, e.TG.Press(t, p.ChatID, menu.ID, "e:restyle", user))
	question := e.TG.WaitCalls(t, "sendMessage", 2, wait)[1]
	q, _ := e.TG.Message(p.ChatID, messageID(t, question))
	if f, ok := e.TG.ForceReplyOf(p.ChatID, q.ID); !ok || f.Placeholder != "Describe the style: watercolor, anime, oil painting…" ||
		q.ReplyTo != p.MessageID || !strings.HasPrefix(q.Text, "✏️ Restyle: Describe the style") {
		t.Fatalf("question %+v (ForceReply %+v)", q, f)
	}
	if n := len(e.RP.Predictions()); n != 0 {
		t.Fatalf("%d predictions before the prompt", n)
	}

	// The reply starts it, once, however often it is delivered.
	reply := e.TG.Reply(t, p.ChatID, q.ID, user, map[string]any{"text": "make it a watercolor"})
	deliver(t, e, reply)
	deliver(t, e, reply)
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	if pr.Model != "black-forest-labs/flux-kontext-pro" || pr.Input["prompt"] != "make it a watercolor" || pr.Input["output_format"] != "png" ||
		!slices.Equal(pr.EventsFilter, []string{"start", "completed"}) {
		t.Errorf("prediction %s %v %v", pr.Model, pr.Input, pr.EventsFilter)
	}
	result := e.TG.WaitCalls(t, "sendPhoto", 1, wait)[0]
	sent, _ := e.TG.Message(p.ChatID, messageID(t, result))
	if !strings.HasPrefix(sent.Text, "Restyle · ") || !strings.HasSuffix(sent.Text, "\n✏️ make it a watercolor") ||
		!slices.Equal(sent.Keyboard.Data(), []string{"a:restyle:" + pr.ID, "p:restyle", "m"}) || sent.ReplyTo != p.MessageID {
		t.Errorf("result %q %v", sent.Text, sent.Keyboard.Data())
	}
	status := statusOf(t, e, p.ChatID, pr.ID)
	e.Eventually("the status says done", wait, func() bool {
		m, _ := e.TG.Message(p.ChatID, status)
		return strings.HasPrefix(m.Text, "✅ Restyle: done")
	})
	m, _ := e.TG.Message(p.ChatID, status)
	var texts []string
	for _, v := range m.History {
		texts = append(texts, v.Text)
	}
	if len(texts) != 3 || !strings.HasPrefix(texts[0], "⏳ Restyle: waiting for the model") ||
		!strings.HasPrefix(texts[1], "⚙️ Restyle: processing (0:0") || m.History[1].Keyboard.Data()[0] != "x:r_restyle_"+fmt.Sprint(replyID(t, e, p.ChatID, q.ID)) {
		t.Errorf("status history %q", texts)
	}
	if n := len(e.RP.Predictions()); n != 1 {
		t.Errorf("%d predictions for one reply delivered twice", n)
	}

	// Again: the same photo and prompt.
	deliver(t, e, e.TG.Press(t, p.ChatID, sent.ID, "a:restyle:"+pr.ID, user))
	again := e.RP.WaitPredictions(t, 2, wait)[1]
	if again.Input["prompt"] != "make it a watercolor" {
		t.Errorf("Again's prompt %v", again.Input["prompt"])
	}
	e.TG.WaitCalls(t, "sendPhoto", 2, wait)
	e.RP.WaitIdle(t, wait)
	t.Log("transcript:\n" + transcript(e, p.ChatID))
}

// statusOf is the status message of prediction id, from its task or,
// once delivered, the message that says it is done.
func statusOf(t *testing.T, e *testenv.Env, chat int64, id string) int {
	t.Helper()
	for _, m := range e.TG.Messages(chat) {
		if m.FromBot && len(m.History) > 0 && strings.Contains(m.History[0].Text, "waiting for the model") {
			return m.ID
		}
	}
	t.Fatalf("no status for %s", id)
	return 0
}

// replyID is the user's reply to the question.
func replyID(t *testing.T, e *testenv.Env, chat int64, question int) int {
	t.Helper()
	for _, m := range e.TG.Messages(chat) {
		if !m.FromBot && m.ReplyTo == question {
			return m.ID
		}
	}
	t.Fatalf("no reply to %d", question)
	return 0
}

// transcript is the chat as its user saw it, for the README: each
// message as sent, then each of its edits.
func transcript(e *testenv.Env, chat int64) string {
	var b strings.Builder
	line := func(prefix, text string, k fake.Keyboard) {
		b.WriteString(prefix + strings.ReplaceAll(text, "\n", "\n          "))
		for _, row := range k {
			for _, btn := range row {
				fmt.Fprintf(&b, " [ %s ]", btn.Text)
			}
		}
		b.WriteString("\n")
	}
	for _, m := range e.TG.Messages(chat) {
		if !m.FromBot {
			if m.Kind == "photo" {
				line(" Anna:  ", "[photo]", nil)
			} else {
				line(" Anna:  ", "↳ "+m.Text, nil)
			}
			continue
		}
		first := m.History[0]
		text := first.Text
		if m.Kind == "photo" {
			text = "[photo] " + text
		}
		if _, ok := e.TG.ForceReplyOf(chat, m.ID); ok {
			text += "   (ForceReply)"
		}
		line(" Bot:   ↳ ", text, first.Keyboard)
		for _, v := range m.History[1:] {
			line("        (edited: ", v.Text+")", v.Keyboard)
		}
	}
	return b.String()
}
