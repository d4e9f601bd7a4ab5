package fake

import (
	"encoding/json"
	"testing"
	"time"
)

// ForceReply and the users' replies to the bot's messages.
//
//   - sendMessage takes reply_markup {"force_reply": true,
//     "input_field_placeholder", "selective"}: force_reply must be true
//     (the server: "Bad Request: can't parse reply keyboard markup JSON
//     object" otherwise, as its get_reply_markup fails), the placeholder at
//     most 64 characters (TDLib cuts a longer one; the fake fails the test
//     instead, since a cut placeholder is a mistake of the bot's). The
//     message object the server returns carries no reply_markup (only an
//     inline keyboard is shown there). Edits take inline keyboards only.
//   - Reply makes the message a user sends replying to a message: its
//     reply_to_message is that message without a reply_to_message of its
//     own, as the Bot API gives one level only.

// forceReply is the ForceReply of a sendMessage, nil when its markup is
// none or an inline keyboard.
func (t *Telegram) forceReply(q *tgRequest) (*ForceReply, *tgAnswer) {
	var obj struct {
		ForceReply  *json.RawMessage `json:"force_reply"`
		Placeholder *string          `json:"input_field_placeholder"`
		Selective   bool             `json:"selective"`
	}
	s := q.params["reply_markup"]
	if s == "" || json.Unmarshal([]byte(s), &obj) != nil || obj.ForceReply == nil {
		return nil, nil // the keyboard's own parsing says what is wrong
	}
	if string(*obj.ForceReply) != "true" {
		return nil, badp("can't parse reply keyboard markup JSON object")
	}
	f := &ForceReply{Selective: obj.Selective}
	if obj.Placeholder != nil {
		f.Placeholder = *obj.Placeholder
		if n := len([]rune(f.Placeholder)); n > 64 {
			t.tb.Errorf("fake telegram: %s with an input_field_placeholder of %d characters: Telegram cuts it to 64", q.call.Method, n)
		}
	}
	return f, nil
}

// ForceReply is the ForceReply a bot message was sent with.
type ForceReply struct {
	Placeholder string
	Selective   bool
}

// Reply returns the message update Telegram sends when from (ID 0: the
// private chat's user) replies to message messageID of chatID with
// content (the message's own fields: {"text": "..."}, {"sticker":
// {...}}), with the next update_id and message id; the message is
// registered, as PushUpdate registers its own. Its reply_to_message is
// the replied message one level deep. Reply fails the test when that
// message is unknown or deleted.
func (t *Telegram) Reply(tb testing.TB, chatID int64, messageID int, from User, content map[string]any) json.RawMessage {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.chats[chatID][messageID]
	if s == nil || s.Deleted {
		tb.Fatalf("fake telegram: Reply: chat %d has no message %d", chatID, messageID)
		return nil
	}
	if from.ID == 0 && chatID > 0 {
		from.ID = chatID
	}
	if from.FirstName == "" {
		from.FirstName = "Test"
	}
	msg := map[string]any{}
	for k, v := range content {
		msg[k] = v
	}
	t.messageSeq++
	msg["message_id"], msg["from"], msg["chat"], msg["date"] = t.messageSeq, from, chatOf(chatID), time.Now().Unix()
	msg["reply_to_message"] = t.renderLocked(s, false)
	raw, _ := json.Marshal(msg)
	t.addUserMessageLocked(raw)
	update, _ := json.Marshal(map[string]any{"update_id": t.nextUpdateID, "message": json.RawMessage(raw)})
	t.nextUpdateID++
	return update
}

// ForceReplyOf returns the ForceReply message messageID of chatID was
// sent with; ok is false when it had none.
func (t *Telegram) ForceReplyOf(chatID int64, messageID int) (f ForceReply, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.chats[chatID][messageID]
	if s == nil || s.forceReply == nil {
		return ForceReply{}, false
	}
	return *s.forceReply, true
}
