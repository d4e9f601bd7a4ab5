package fake

import (
	"encoding/json"
	"strings"
	"testing"
)

// A question with a ForceReply, and the user's answer to it: one level of
// reply_to_message, as the Bot API gives it.
func TestTelegramForceReplyAndReply(t *testing.T) {
	tg := NewTelegram(t, testToken)
	tg.AddUserMessage(userPhoto(1473))
	status, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": chat, "text": "Describe the style",
		"reply_parameters": map[string]any{"message_id": 1473},
		"reply_markup":     map[string]any{"force_reply": true, "input_field_placeholder": "watercolor, anime…", "selective": true}})
	if status != 200 {
		t.Fatalf("sendMessage with a ForceReply: %d %s", status, a.Description)
	}
	q := decodeMessage(t, a.Result)
	if q.ReplyMarkup != nil || len(q.ReplyToMessage) == 0 {
		t.Errorf("the question as sent: %s; want no reply_markup (a ForceReply is not shown) and the photo as reply_to_message", a.Result)
	}
	if f, ok := tg.ForceReplyOf(chat, q.MessageID); !ok || f.Placeholder != "watercolor, anime…" || !f.Selective {
		t.Errorf("ForceReplyOf = %+v, %v", f, ok)
	}

	update := tg.Reply(t, chat, q.MessageID, User{}, map[string]any{"text": "make it a watercolor"})
	var u struct {
		Message struct {
			MessageID int    `json:"message_id"`
			Text      string `json:"text"`
			From      User   `json:"from"`
		} `json:"message"`
	}
	if err := json.Unmarshal(update, &u); err != nil {
		t.Fatal(err)
	}
	var msg map[string]json.RawMessage
	_ = json.Unmarshal(update, &struct {
		Message *map[string]json.RawMessage `json:"message"`
	}{&msg})
	var replied map[string]json.RawMessage
	if err := json.Unmarshal(msg["reply_to_message"], &replied); err != nil {
		t.Fatalf("reply_to_message of %s: %v", update, err)
	}
	if string(replied["message_id"]) != itoa(q.MessageID) || string(replied["text"]) != `"Describe the style"` {
		t.Errorf("reply_to_message = %s, want the question", msg["reply_to_message"])
	}
	if _, nested := replied["reply_to_message"]; nested {
		t.Errorf("reply_to_message has a reply_to_message of its own (%s): Telegram gives one level", replied["reply_to_message"])
	}
	if u.Message.Text != "make it a watercolor" || u.Message.From.ID != chat || u.Message.MessageID <= q.MessageID {
		t.Errorf("the reply: %+v", u.Message)
	}
	if m, ok := tg.Message(chat, u.Message.MessageID); !ok || m.FromBot || m.ReplyTo != q.MessageID {
		t.Errorf("the reply is not registered as the user's reply to the question: %+v", m)
	}
}

func TestTelegramForceReplyRefused(t *testing.T) {
	tg := NewTelegram(t, testToken)
	status, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": chat, "text": "Describe",
		"reply_markup": map[string]any{"force_reply": false}})
	if status != 400 || !strings.Contains(a.Description, "can't parse reply keyboard markup JSON object") {
		t.Errorf("force_reply false: %d %q", status, a.Description)
	}
	rec := &recTB{TB: t}
	tg = NewTelegram(rec, testToken)
	long := strings.Repeat("é", 65)
	callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": chat, "text": "Describe",
		"reply_markup": map[string]any{"force_reply": true, "input_field_placeholder": long}})
	if len(rec.failures()) != 1 {
		t.Error("a placeholder of 65 characters did not fail the test")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
