package telegram

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/pipeline"
)

// A question goes out with a ForceReply and its id; the user's answer
// comes back with the question as ReplyTo, one level deep.
func TestQuestionAndItsAnswer(t *testing.T) {
	tg := fake.NewTelegram(t, token)
	c, err := New(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	const chat = 42
	tg.AddUserMessage(map[string]any{"message_id": 7, "date": time.Now().Unix(), "chat": map[string]any{"id": chat, "type": "private"},
		"from":  map[string]any{"id": chat, "is_bot": false, "first_name": "Anna"},
		"photo": []map[string]any{{"file_id": "AgACphoto", "file_unique_id": "u", "width": 800, "height": 600}}})
	placeholder := strings.Repeat("в", 70) // cut to 64
	id, err := c.Post(context.Background(), &pipeline.Reply{ChatID: chat, Text: "✏️ Restyle: describe the style", ReplyTo: 7,
		ForceReply: true, Placeholder: placeholder})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := tg.Message(chat, id)
	if !ok || !m.FromBot || m.ReplyTo != 7 || m.Text != "✏️ Restyle: describe the style" || m.Keyboard != nil {
		t.Fatalf("Post gave id %d: %+v", id, m)
	}
	if f, ok := tg.ForceReplyOf(chat, id); !ok || f.Placeholder != strings.Repeat("в", 63)+"…" {
		t.Errorf("ForceReply %+v, %v", f, ok)
	}

	u, err := DecodeUpdate(tg.Reply(t, chat, id, fake.User{}, map[string]any{"text": "watercolor"}))
	if err != nil {
		t.Fatal(err)
	}
	r := u.Message.ReplyTo
	if u.Message.Text != "watercolor" || r == nil || r.ID != id || r.From == nil || !r.From.Bot || r.ReplyTo != nil || r.File != nil {
		t.Errorf("answer %+v, replying to %+v", u.Message, r)
	}
	sticker, err := DecodeUpdate(tg.Reply(t, chat, id, fake.User{}, map[string]any{"sticker": map[string]any{"file_id": "CAAC"}}))
	if err != nil {
		t.Fatal(err)
	}
	if m := sticker.Message; m.File == nil || m.File.Image || m.ReplyTo == nil || m.ReplyTo.ID != id {
		t.Errorf("sticker answer %+v", m)
	}
}
