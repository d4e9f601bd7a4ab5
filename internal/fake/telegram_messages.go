package fake

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fake Telegram's message store, inline keyboards, button presses and
// the methods that edit messages and answer presses.
//
// Error texts and where they come from (tdlib/telegram-bot-api
// telegram-bot-api/Client.cpp, "the server"; tdlib/td, "TDLib"):
//   - "Bad Request: message is not modified: specified new message content
//     and reply markup are exactly the same as a current content and reply
//     markup of the message": Telegram's MESSAGE_NOT_MODIFIED as the server
//     rewrites it in fail_query_with_error.
//   - "Bad Request: query is too old and response timeout expired or query
//     ID is invalid": QUERY_ID_INVALID, rewritten in the same place.
//   - "Bad Request: message to edit not found": the server's check_message
//     with message_type "message to edit".
//   - "Bad Request: message can't be edited", "Bad Request: there is no
//     text in the message to edit": TDLib's
//     MessagesManager::edit_message_text ("Message can't be edited",
//     "There is no text in the message to edit"), first letter lowered by
//     the server.
//   - "Bad Request: message identifier is not specified": the server's
//     get_inline_message_id, when neither chat_id nor message_id is given.
//   - "Bad Request: message to be replied not found": the server's
//     check_reply_parameters, for a reply to a deleted message without
//     allow_sending_without_reply (with it, the message is sent as no
//     reply).
//   - "Bad Request: BUTTON_DATA_INVALID": Telegram's own error for
//     callback_data over 64 bytes (the Bot API docs: 1-64 bytes; passed
//     through unchanged, as public reports show).
//   - "Bad Request: can't parse inline keyboard button: Text buttons are
//     unallowed in the inline keyboard" (no callback_data, or an empty
//     one), "... InlineKeyboardButton must be an Object", "... Can't find
//     field \"text\"", "Bad Request: field \"inline_keyboard\" of the
//     InlineKeyboardMarkup must be an Array of Arrays", "Bad Request: can't
//     parse reply keyboard markup JSON object", "Bad Request: object
//     expected as reply markup": the server's get_reply_markup.
//   - "Bad Request: MESSAGE_TOO_LONG": Telegram's error of
//     messages.setBotCallbackAnswer for a notification over 200
//     characters.

// Keyboard is an inline keyboard: rows of buttons.
type Keyboard [][]Button

// Button is an inline keyboard button with callback data, or the Pay
// button of an invoice: the only kinds of button the fake models.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	Pay          bool   `json:"pay,omitempty"`
}

// Data lists the callback data of every button, row by row (a Pay button
// has none).
func (k Keyboard) Data() []string {
	var out []string
	for _, row := range k {
		for _, b := range row {
			if !b.Pay {
				out = append(out, b.CallbackData)
			}
		}
	}
	return out
}

func (k Keyboard) equal(o Keyboard) bool {
	return slices.EqualFunc(k, o, func(a, b []Button) bool { return slices.Equal(a, b) })
}

type tgMarkup struct {
	InlineKeyboard Keyboard `json:"inline_keyboard"`
}

func markupOf(k Keyboard) *tgMarkup {
	if len(k) == 0 {
		return nil
	}
	return &tgMarkup{k}
}

// Message is a message of the fake's store, as it is now.
type Message struct {
	ChatID int64
	ID     int
	// FromBot is true for the bot's messages, false for the users'
	// messages registered by AddUserMessage, PushUpdate or DeliverUpdate.
	FromBot bool
	// Kind is "text", "photo", "document" or "invoice"; "other" for a
	// user's message of another kind (and for a message only known as
	// deleted).
	Kind string
	// Text is the text, or the caption of a photo or document.
	Text string
	// File is the photo (its largest size) or the document; nil for text.
	File *MessageFile
	// ReplyTo is the id of the message this one replies to; 0 for none.
	ReplyTo int
	// Keyboard is the current inline keyboard; nil when there is none.
	Keyboard     Keyboard
	MediaGroupID string
	// Date is when the message was sent, moved back by AgeMessage.
	Date time.Time
	// Deleted is set by DeleteMessage.
	Deleted bool
	// History holds a bot message's states, oldest first: as sent, then
	// one entry for each successful editMessageText or
	// editMessageReplyMarkup.
	History []MessageVersion
	// JSON is the message as the Bot API shows it now, with
	// reply_to_message when the replied message is stored.
	JSON json.RawMessage
}

// MessageVersion is one state of a bot message.
type MessageVersion struct {
	Method   string // the call that made it: "sendMessage", "editMessageText", ...
	Text     string // text or caption
	Keyboard Keyboard
	At       time.Time
}

// MessageFile is the file of a photo or document message.
type MessageFile struct {
	ID, UniqueID string
	// Name is document.file_name; for a photo, the uploaded part's file
	// name or the URL's base name (Telegram keeps none).
	Name string
	// MimeType is document.mime_type as Telegram sets it ("" for photos).
	MimeType string
	// UploadType is the Content-Type of the multipart part the file was
	// uploaded in ("" when sent by URL or file_id).
	UploadType    string
	Size          int64
	Width, Height int // photos
	// Data is the bytes sent, which every size of it downloads: the fake
	// does not recompress. Nil for users' messages.
	Data []byte
}

// User is the user who presses a button (Press): callback_query.from.
type User struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// ButtonPress is a press made with Press, with the bot's answers to it.
type ButtonPress struct {
	ID        string // callback_query.id
	ChatID    int64
	MessageID int
	Data      string
	From      User
	At        time.Time
	// Inaccessible is set when the update carried an InaccessibleMessage.
	Inaccessible bool
	// Answers holds every answerCallbackQuery call for the query, failed
	// ones included (Error set): a press answered exactly once has one
	// answer with Error "".
	Answers []CallbackAnswer
}

// CallbackAnswer is one answerCallbackQuery call.
type CallbackAnswer struct {
	Text      string
	ShowAlert bool
	At        time.Time
	Error     string // the error description; "" when it was answered
}

func (p *ButtonPress) answered() bool {
	return slices.ContainsFunc(p.Answers, func(a CallbackAnswer) bool { return a.Error == "" })
}

// tgStored is a message of the store: the test's view and, for the bot's
// messages, the Bot API object, or the user's message as registered.
type tgStored struct {
	Message
	msg        tgMessage       // bot's messages
	raw        json.RawMessage // users' messages
	forceReply *ForceReply     // the bot's message's ForceReply
}

// ---- test-side API ----

// NewMessageID takes the next message id, as Telegram numbers the messages
// of a private chat in one sequence with the bot's: a test that makes up a
// user's message takes its id here, so that it never names a message the
// bot sent.
func (t *Telegram) NewMessageID() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.messageSeq++
	return t.messageSeq
}

// AddUserMessage puts a user's message (a Message object as in an update:
// anything that marshals to one, or its JSON) in the store, so that bot
// messages replying to it carry it as reply_to_message and a Press on them
// shows it. Updates posted with PushUpdate or DeliverUpdate are registered
// on their own; tests that post updates to the bot themselves call this.
func (t *Telegram) AddUserMessage(msg any) {
	var raw []byte
	switch x := msg.(type) {
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		raw, _ = json.Marshal(msg)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.addUserMessageLocked(raw) {
		panic(fmt.Sprintf("fake telegram: AddUserMessage: not a message object with a message_id: %.200s", raw))
	}
}

func (t *Telegram) addUserMessageLocked(raw json.RawMessage) bool {
	var m struct {
		MessageID int `json:"message_id"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		Date     int64         `json:"date"`
		Text     string        `json:"text"`
		Caption  string        `json:"caption"`
		Photo    []tgPhotoSize `json:"photo"`
		Document *tgDocument   `json:"document"`
		ReplyTo  *struct {
			MessageID int `json:"message_id"`
		} `json:"reply_to_message"`
	}
	if json.Unmarshal(raw, &m) != nil || m.MessageID <= 0 {
		return false
	}
	s := &tgStored{Message: Message{ChatID: m.Chat.ID, ID: m.MessageID, Kind: "other", Date: time.Unix(m.Date, 0)},
		raw: append(json.RawMessage(nil), raw...)}
	if m.ReplyTo != nil {
		s.ReplyTo = m.ReplyTo.MessageID
	}
	switch {
	case len(m.Photo) > 0:
		p := m.Photo[0]
		for _, q := range m.Photo {
			if q.Width*q.Height > p.Width*p.Height {
				p = q
			}
		}
		s.Kind, s.Text = "photo", m.Caption
		s.File = &MessageFile{ID: p.FileID, UniqueID: p.FileUniqueID, Size: p.FileSize, Width: p.Width, Height: p.Height}
	case m.Document != nil:
		d := m.Document
		s.Kind, s.Text = "document", m.Caption
		s.File = &MessageFile{ID: d.FileID, UniqueID: d.FileUniqueID, Name: d.FileName, MimeType: d.MimeType, Size: d.FileSize}
	case m.Text != "":
		s.Kind, s.Text = "text", m.Text
	}
	t.putLocked(s)
	t.messageSeq = max(t.messageSeq, m.MessageID) // one sequence per private chat on Telegram
	return true
}

func (t *Telegram) putLocked(s *tgStored) {
	if t.chats[s.ChatID] == nil {
		t.chats[s.ChatID] = map[int]*tgStored{}
	}
	t.chats[s.ChatID][s.ID] = s
}

// DeleteMessage deletes a message as the user would (say, the photo the
// bot is working on): edits of it answer "message to edit not found",
// replies to it follow allow_sending_without_reply, and the bot's messages
// replying to it no longer carry it.
func (t *Telegram) DeleteMessage(chatID int64, messageID int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.chats[chatID][messageID]; s != nil {
		s.Deleted = true
		return
	}
	t.putLocked(&tgStored{Message: Message{ChatID: chatID, ID: messageID, Kind: "other", Deleted: true}})
}

// AgeMessage moves a stored message's date back by d; a Press on a
// message older than InaccessibleAfter sends it as an InaccessibleMessage.
func (t *Telegram) AgeMessage(chatID int64, messageID int, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.chats[chatID][messageID]; s != nil {
		s.Date = s.Date.Add(-d)
		s.msg.Date = s.Date.Unix()
	}
}

// Message returns message messageID of chatID as it is now.
func (t *Telegram) Message(chatID int64, messageID int) (Message, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.chats[chatID][messageID]
	if s == nil {
		return Message{}, false
	}
	return t.viewLocked(s), true
}

// Messages returns the stored messages of chatID, the bot's and the
// users', in message id order.
func (t *Telegram) Messages(chatID int64) []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Message, 0, len(t.chats[chatID]))
	for _, s := range t.chats[chatID] {
		out = append(out, t.viewLocked(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (t *Telegram) viewLocked(s *tgStored) Message {
	m := s.Message
	m.History = slices.Clone(m.History)
	m.JSON = t.renderLocked(s, true)
	return m
}

// Press returns the callback_query update Telegram sends when from presses
// the button with callback data data under the bot's message messageID in
// chatID: a new id, from (ID 0 is the private chat's user), the message as
// a full Message object with reply_to_message when the replied message is
// stored (an InaccessibleMessage when it is older than InaccessibleAfter),
// chat_instance and data, with the next update_id. Post it to the bot or
// PushUpdate it. Press fails the test when the message is unknown, deleted
// or not the bot's, or when data is not on its current keyboard: Telegram
// cannot send a press of a button that is not there.
func (t *Telegram) Press(tb testing.TB, chatID int64, messageID int, data string, from User) json.RawMessage {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.chats[chatID][messageID]
	switch {
	case s == nil || s.Deleted:
		tb.Fatalf("fake telegram: Press: chat %d has no message %d", chatID, messageID)
		return nil
	case !s.FromBot:
		tb.Fatalf("fake telegram: Press: message %d of chat %d is a user's message, which has no inline keyboard", messageID, chatID)
		return nil
	case !slices.Contains(s.Keyboard.Data(), data):
		tb.Fatalf("fake telegram: Press: message %d of chat %d has no button with callback data %q; its keyboard has %q",
			messageID, chatID, data, s.Keyboard.Data())
		return nil
	}
	if from.ID == 0 && chatID > 0 {
		from.ID = chatID
	}
	if from.FirstName == "" {
		from.FirstName = "Test"
	}
	id := ""
	for id == "" || t.presses[id] != nil {
		id = strconv.FormatUint(randUint63(), 10)
	}
	p := &ButtonPress{ID: id, ChatID: chatID, MessageID: messageID, Data: data, From: from, At: time.Now(),
		Inaccessible: time.Since(s.Date) > t.InaccessibleAfter}
	msg := t.renderLocked(s, true)
	if p.Inaccessible {
		msg, _ = json.Marshal(map[string]any{"message_id": messageID, "chat": chatOf(chatID), "date": 0})
	}
	t.presses[id] = p
	t.pressOrder = append(t.pressOrder, id)
	update, _ := json.Marshal(map[string]any{"update_id": t.nextUpdateID, "callback_query": map[string]any{
		"id": id, "from": from, "message": msg, "chat_instance": chatInstance(t.BotID, chatID), "data": data}})
	t.nextUpdateID++
	return update
}

// Presses returns every press made with Press, in order, with the answers
// the bot gave to each.
func (t *Telegram) Presses() []ButtonPress {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ButtonPress, 0, len(t.pressOrder))
	for _, id := range t.pressOrder {
		p := *t.presses[id]
		p.Answers = slices.Clone(p.Answers)
		out = append(out, p)
	}
	return out
}

// chatInstance is a stable, signed 64-bit identifier of the chat as seen
// by the bot, as chat_instance is.
func chatInstance(botID, chatID int64) string {
	h := uint64(14695981039346656037)
	for _, b := range []byte(fmt.Sprint(botID, ":", chatID)) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return strconv.FormatInt(int64(h), 10)
}

// ---- HTTP side ----

// renderLocked is the Bot API object of s; withReply adds
// reply_to_message (the server nests one level).
func (t *Telegram) renderLocked(s *tgStored, withReply bool) json.RawMessage {
	if !s.FromBot {
		return s.raw
	}
	m := s.msg
	if withReply && s.ReplyTo > 0 {
		if r := t.chats[s.ChatID][s.ReplyTo]; r != nil && !r.Deleted {
			m.ReplyToMessage = t.renderLocked(r, false)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// storeSentLocked stores a message the bot sent and returns its object.
func (t *Telegram) storeSentLocked(q *tgRequest, m tgMessage, replyTo int, kb Keyboard, file *MessageFile) json.RawMessage {
	m.ReplyMarkup = markupOf(kb)
	s := &tgStored{Message: Message{ChatID: m.Chat.ID, ID: m.MessageID, FromBot: true, Kind: "text", Text: m.Text,
		File: file, ReplyTo: replyTo, Keyboard: kb, MediaGroupID: m.MediaGroupID, Date: time.Unix(m.Date, 0)}, msg: m}
	if file != nil {
		s.Kind, s.Text = "document", m.Caption
		if m.Photo != nil {
			s.Kind = "photo"
		}
	}
	s.History = []MessageVersion{{Method: q.call.Method, Text: s.Text, Keyboard: kb, At: time.Now()}}
	t.putLocked(s)
	return t.renderLocked(s, true)
}

// replyTarget is the message a send to chat replies to.
func (t *Telegram) replyTarget(chat int64, o sendOptions) (int, *tgAnswer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.replyTargetLocked(chat, o)
}

func (t *Telegram) replyTargetLocked(chat int64, o sendOptions) (int, *tgAnswer) {
	if o.replyTo <= 0 {
		return 0, nil
	}
	if r := t.chats[chat][o.replyTo]; r != nil && r.Deleted {
		if o.allowNoReply {
			return 0, nil
		}
		return 0, badp("message to be replied not found")
	}
	return o.replyTo, nil
}

// jsonString reads a JSON string (or number, which the server takes as
// its text).
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// inlineKeyboard reads reply_markup as the server and TDLib do.
func (t *Telegram) inlineKeyboard(q *tgRequest) (Keyboard, *tgAnswer) {
	s := q.params["reply_markup"]
	if s == "" {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		if json.Valid([]byte(s)) {
			return nil, badp("object expected as reply markup")
		}
		return nil, badp("can't parse reply keyboard markup JSON object")
	}
	notModelled := func(what string) (Keyboard, *tgAnswer) {
		t.tb.Errorf("fake telegram: %s with %s: the fake does not model %[2]s", q.call.Method, what)
		return nil, badp("the fake does not model " + what)
	}
	for _, k := range []string{"keyboard", "remove_keyboard", "force_reply"} {
		if _, ok := obj[k]; ok {
			return notModelled("reply_markup." + k)
		}
	}
	var rows []json.RawMessage
	if raw, ok := obj["inline_keyboard"]; ok && json.Unmarshal(raw, &rows) != nil {
		return nil, badp(`field "inline_keyboard" must be of type Array`)
	}
	var kb Keyboard
	for _, r := range rows {
		var buttons []json.RawMessage
		if json.Unmarshal(r, &buttons) != nil {
			return nil, badp(`field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays`)
		}
		var row []Button
		for _, raw := range buttons {
			var b map[string]json.RawMessage
			if json.Unmarshal(raw, &b) != nil || b == nil {
				return nil, badp("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
			}
			text, ok := jsonString(b["text"])
			if _, has := b["text"]; !has {
				return nil, badp(`can't parse inline keyboard button: Can't find field "text"`)
			} else if !ok {
				return nil, badp(`can't parse inline keyboard button: Field "text" must be of type String`)
			}
			data, _ := jsonString(b["callback_data"])
			if payButton(q, b, data) {
				if text != "" {
					row = append(row, Button{Text: text, Pay: true})
				}
				continue
			}
			if data == "" {
				for _, k := range []string{"url", "callback_game", "pay", "switch_inline_query", "switch_inline_query_chosen_chat",
					"switch_inline_query_current_chat", "login_url", "web_app", "copy_text"} {
					if _, ok := b[k]; ok {
						return notModelled(k + " buttons")
					}
				}
				return nil, badp("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			}
			if text != "" { // TDLib drops buttons without text
				row = append(row, Button{Text: text, CallbackData: data})
			}
		}
		if len(row) > 0 {
			kb = append(kb, row)
		}
	}
	for _, d := range kb.Data() {
		if len(d) > 64 {
			return nil, badp("BUTTON_DATA_INVALID")
		}
	}
	return kb, nil
}

// editTargetLocked finds the message an edit names.
func (t *Telegram) editTargetLocked(q *tgRequest) (*tgStored, *tgAnswer) {
	if q.params["inline_message_id"] != "" {
		t.tb.Errorf("fake telegram: %s with inline_message_id: the fake does not model inline messages", q.call.Method)
		return nil, badp("the fake does not model inline messages")
	}
	chat, mid := strings.TrimSpace(q.params["chat_id"]), q.params["message_id"]
	switch {
	case chat == "" && mid == "":
		return nil, badp("message identifier is not specified")
	case chat == "":
		return nil, badp("chat_id is empty")
	}
	id, err := strconv.ParseInt(chat, 10, 64)
	if err != nil || id == 0 {
		return nil, badp("chat not found")
	}
	n, _ := strconv.Atoi(mid)
	s := t.chats[id][n]
	if s == nil || s.Deleted || n <= 0 {
		return nil, badp("message to edit not found")
	}
	if !s.FromBot {
		return nil, badp("message can't be edited")
	}
	return s, nil
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same " +
	"as a current content and reply markup of the message"

func (t *Telegram) editMessageText(q *tgRequest) tgAnswer {
	text := q.params["text"]
	if a := t.noParseMode(q, q.params["parse_mode"]); a != nil {
		return *a
	}
	if strings.TrimSpace(text) == "" {
		return tgBad("message text is empty")
	}
	if utf16Len(text) > 4096 {
		return tgBad("message is too long")
	}
	kb, a := t.inlineKeyboard(q) // none removes the keyboard, as on Telegram
	if a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, a := t.editTargetLocked(q)
	switch {
	case a != nil:
		return *a
	case s.Kind != "text":
		return tgBad("there is no text in the message to edit")
	case s.Text == text && s.Keyboard.equal(kb):
		return tgBad(notModified)
	}
	s.msg.Text = text
	return tgOK(t.editLocked(q, s, text, kb))
}

func (t *Telegram) editMessageReplyMarkup(q *tgRequest) tgAnswer {
	kb, a := t.inlineKeyboard(q)
	if a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, a := t.editTargetLocked(q)
	switch {
	case a != nil:
		return *a
	case s.Keyboard.equal(kb):
		return tgBad(notModified)
	}
	return tgOK(t.editLocked(q, s, s.Text, kb))
}

func (t *Telegram) editLocked(q *tgRequest, s *tgStored, text string, kb Keyboard) json.RawMessage {
	now := time.Now()
	s.Text, s.Keyboard = text, kb
	s.msg.ReplyMarkup, s.msg.EditDate = markupOf(kb), now.Unix()
	s.History = append(s.History, MessageVersion{Method: q.call.Method, Text: text, Keyboard: kb, At: now})
	return t.renderLocked(s, true)
}

func (t *Telegram) answerCallbackQuery(q *tgRequest) tgAnswer {
	invalid := tgBad("query is too old and response timeout expired or query ID is invalid")
	ans := CallbackAnswer{Text: q.params["text"], ShowAlert: isTrue(q.params["show_alert"]), At: time.Now()}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.presses[q.params["callback_query_id"]]
	if p == nil {
		return invalid
	}
	a := tgOK(true)
	switch {
	case utf16Len(ans.Text) > 200:
		a = tgBad("MESSAGE_TOO_LONG")
	case p.answered() || ans.At.Sub(p.At) > t.CallbackQueryTimeout:
		a = invalid
	}
	if a.failed() {
		ans.Error = a.desc
	}
	p.Answers = append(p.Answers, ans)
	return a
}
