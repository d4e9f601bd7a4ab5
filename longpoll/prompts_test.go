package longpoll_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

const kontextEffects = `[{"id": "restyle", "title": {"en": "Restyle", "ru": "Стиль"},
  "model": "black-forest-labs/flux-kontext-pro", "image_field": "input_image", "prompt_field": "prompt",
  "input": {"output_format": "png"}, "prompt": "required", "progress": true,
  "prompt_hint": {"en": "Describe the style: watercolor, anime…", "ru": "Опишите стиль: акварель, аниме…"}}]`

// photobot run asks for the prompt, takes the reply, and tells the
// model's start from its polls (it has no webhooks).
func TestRunAsksForThePromptAndTellsTheStart(t *testing.T) {
	tgf, rp := fake.NewTelegram(t, testenv.BotToken), fake.NewReplicate(t, testenv.ReplicateToken)
	rp.SetModel("black-forest-labs", "flux-kontext-pro", "", "input_image", "prompt", "output_format")
	rp.ImageField = "input_image"
	rp.QueueTime, rp.RunTime = 300*time.Millisecond, 300*time.Millisecond
	r := runnerWith(t, tgf, rp, t.TempDir(), map[string]string{"EFFECTS": kontextEffects})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	const chat = 2001
	tgf.PushUpdate(photoUpdate(tgf, chat, fake.JPEG(64, 48)))
	q := tgf.WaitCalls(t, "sendMessage", 1, 10*time.Second)[0]
	if !strings.Contains(q.Params["text"], "Опишите стиль") || !strings.Contains(q.Params["reply_markup"], `"force_reply":true`) {
		t.Fatalf("question %v", q.Params)
	}
	question := lastBotMessage(t, tgf, chat)
	tgf.PushUpdate(tgf.Reply(t, chat, question, fake.User{LanguageCode: "ru"}, map[string]any{"text": "акварель"}))

	tgf.WaitCalls(t, "sendPhoto", 1, 10*time.Second)
	pr := rp.Predictions()[0]
	if pr.Input["prompt"] != "акварель" || pr.Input["output_format"] != "png" {
		t.Errorf("prediction input %v", pr.Input)
	}
	status := tgf.WaitCalls(t, "sendMessage", 2, 5*time.Second)[1]
	if !strings.Contains(status.Params["text"], "жду модель") {
		t.Errorf("status %q", status.Params["text"])
	}
	edits := tgf.WaitCalls(t, "editMessageText", 2, 5*time.Second)
	if !strings.Contains(edits[0].Params["text"], "обрабатываю (0:") || !strings.HasPrefix(edits[1].Params["text"], "✅ Стиль") {
		t.Errorf("status edits %q, %q", edits[0].Params["text"], edits[1].Params["text"])
	}
}

// lastBotMessage is the id of the bot's latest message in chat.
func lastBotMessage(t *testing.T, tg *fake.Telegram, chat int64) int {
	t.Helper()
	id := 0
	for _, m := range tg.Messages(chat) {
		if m.FromBot {
			id = m.ID
		}
	}
	if id == 0 {
		t.Fatalf("the bot sent nothing to %d", chat)
	}
	return id
}
