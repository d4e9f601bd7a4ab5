package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

const chat = 284516093

// userPhoto is the user's photo message the bot replies to.
func userPhoto(id int) map[string]any {
	return map[string]any{"message_id": id, "date": time.Now().Unix(),
		"from": map[string]any{"id": chat, "is_bot": false, "first_name": "Анна"},
		"chat": map[string]any{"id": chat, "type": "private"},
		"photo": []map[string]any{
			{"file_id": "AgACsmall", "file_unique_id": "AQADs", "file_size": 1381, "width": 90, "height": 68},
			{"file_id": "AgAClarge", "file_unique_id": "AQADl", "file_size": 87612, "width": 800, "height": 600}}}
}

var menu = map[string]any{"inline_keyboard": [][]map[string]string{
	{{"text": "Upscale", "callback_data": "e:upscale"}, {"text": "Restore", "callback_data": "e:restore"}},
	{{"text": "Cartoon", "callback_data": "e:cartoon"}}}}

// sentMessage decodes a message a call returned.
type sentMessage struct {
	MessageID      int             `json:"message_id"`
	Date           int64           `json:"date"`
	EditDate       int64           `json:"edit_date"`
	Text           string          `json:"text"`
	Caption        string          `json:"caption"`
	ReplyMarkup    *tgMarkup       `json:"reply_markup"`
	ReplyToMessage json.RawMessage `json:"reply_to_message"`
	Document       *tgDocument     `json:"document"`
}

func decodeMessage(t *testing.T, raw json.RawMessage) sentMessage {
	t.Helper()
	var m sentMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("message %s: %v", raw, err)
	}
	return m
}

// sendMenu sends the menu of effects as a reply to the user's photo 1473.
func sendMenu(t *testing.T, tg *Telegram) sentMessage {
	t.Helper()
	tg.AddUserMessage(userPhoto(1473))
	status, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": chat, "text": "Choose an effect",
		"reply_markup": menu, "reply_parameters": map[string]any{"message_id": 1473, "allow_sending_without_reply": true}})
	if status != 200 {
		t.Fatalf("sendMessage with a keyboard: %d %s", status, a.Description)
	}
	return decodeMessage(t, a.Result)
}

func TestTelegramInlineKeyboard(t *testing.T) {
	rec := &recTB{TB: t}
	tg := NewTelegram(rec, testToken)
	m := sendMenu(t, tg)
	if m.ReplyMarkup == nil || fmt.Sprint(m.ReplyMarkup.InlineKeyboard.Data()) != "[e:upscale e:restore e:cartoon]" ||
		m.ReplyMarkup.InlineKeyboard[1][0].Text != "Cartoon" || m.MessageID != 1474 {
		t.Errorf("sent message: %+v", m)
	}
	if s, ok := tg.Message(chat, m.MessageID); !ok || !s.FromBot || s.Kind != "text" || s.Text != "Choose an effect" ||
		s.ReplyTo != 1473 || len(s.Keyboard) != 2 || len(s.History) != 1 || s.History[0].Method != "sendMessage" {
		t.Errorf("stored message: %+v", s)
	}

	// reply_markup as a form field (JSON text), on sendPhoto.
	status, a := callMultipart(t, tg, "sendPhoto", part{name: "chat_id", value: "7"},
		part{name: "photo", filename: "out.png", value: string(PNG(40, 30))},
		part{name: "reply_markup", value: `{"inline_keyboard":[[{"text":"Again","callback_data":"again"},{"text":"","callback_data":"dropped"}],[{"text":"","callback_data":"x"}]]}`})
	if status != 200 {
		t.Fatalf("sendPhoto with a keyboard: %d %s", status, a.Description)
	}
	if k := decodeMessage(t, a.Result).ReplyMarkup; k == nil || len(k.InlineKeyboard) != 1 || fmt.Sprint(k.InlineKeyboard.Data()) != "[again]" {
		t.Errorf("buttons without text must be dropped, and empty rows: %+v", k)
	}
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 7, "text": "x",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "", "callback_data": "x"}}}}})
	if status != 200 || decodeMessage(t, a.Result).ReplyMarkup != nil {
		t.Errorf("a keyboard of textless buttons is no keyboard: %s", a.Result)
	}

	for _, tc := range []struct{ markup, want string }{
		{`{"inline_keyboard":[[{"text":"a","callback_data":"` + strings.Repeat("x", 65) + `"}]]}`, "Bad Request: BUTTON_DATA_INVALID"},
		{`{"inline_keyboard":[[{"text":"a","callback_data":""}]]}`, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"},
		{`{"inline_keyboard":[[{"text":"a"}]]}`, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"},
		{`{"inline_keyboard":[[{"callback_data":"a"}]]}`, `Bad Request: can't parse inline keyboard button: Can't find field "text"`},
		{`{"inline_keyboard":[["a"]]}`, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object"},
		{`{"inline_keyboard":[{"text":"a"}]}`, `Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays`},
		{`[1]`, "Bad Request: object expected as reply markup"},
		{`{"inline_keyboard":`, "Bad Request: can't parse reply keyboard markup JSON object"},
	} {
		for _, method := range []string{"sendMessage", "sendDocument", "editMessageText", "editMessageReplyMarkup"} {
			status, a := callMultipart(t, tg, method, part{name: "chat_id", value: fmt.Sprint(chat)},
				part{name: "message_id", value: fmt.Sprint(m.MessageID)}, part{name: "text", value: "t"},
				part{name: "document", filename: "a.pdf", value: "%PDF-1.4"}, part{name: "reply_markup", value: tc.markup})
			wantError(t, status, a, 400, tc.want)
		}
	}
	// 64 bytes (of UTF-8) is the most.
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 7, "text": "x",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "a", "callback_data": strings.Repeat("я", 32)}}}}})
	if status != 200 {
		t.Errorf("64 bytes of callback_data: %d %s", status, a.Description)
	}
	if f := rec.failures(); len(f) != 0 {
		t.Errorf("failures reported: %q", f)
	}

	// What photobot does not use fails the test.
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 7, "text": "x",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "a", "url": "https://example.com"}}}}})
	wantError(t, status, a, 400, "Bad Request: the fake does not model url buttons")
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 7, "text": "x",
		"reply_markup": map[string]any{"remove_keyboard": true}})
	wantError(t, status, a, 400, "Bad Request: the fake does not model reply_markup.remove_keyboard")
	if f := rec.failures(); len(f) != 2 || !strings.HasSuffix(f[0], "the fake does not model url buttons") {
		t.Errorf("failures reported: %q", f)
	}
}

func TestTelegramRepliesAndDeletedMessages(t *testing.T) {
	tg := NewTelegram(t, testToken)
	m := sendMenu(t, tg)
	var reply struct {
		MessageID int `json:"message_id"`
		Photo     []struct {
			FileID string `json:"file_id"`
		} `json:"photo"`
	}
	if err := json.Unmarshal(m.ReplyToMessage, &reply); err != nil || reply.MessageID != 1473 || len(reply.Photo) != 2 {
		t.Errorf("reply_to_message of the answer: %s", m.ReplyToMessage)
	}
	if u, ok := tg.Message(chat, 1473); !ok || u.FromBot || u.Kind != "photo" || u.File.ID != "AgAClarge" || u.File.Width != 800 {
		t.Errorf("the user's message: %+v", u)
	}

	// The user deleted the photo: a reply without allow_sending_without_reply
	// fails, one with it is sent as no reply.
	tg.DeleteMessage(chat, 1473)
	status, a, _ := callJSON(t, tg, testToken, "sendPhoto", map[string]any{"chat_id": chat, "photo": "AgAClarge",
		"reply_parameters": map[string]any{"message_id": 1473}})
	wantError(t, status, a, 400, "Bad Request: message to be replied not found")
	tg.AddFile("AgAClarge", JPEG(80, 60))
	status, a, _ = callJSON(t, tg, testToken, "sendPhoto", map[string]any{"chat_id": chat, "photo": "AgAClarge",
		"reply_parameters": map[string]any{"message_id": 1473, "allow_sending_without_reply": true}})
	if status != 200 || decodeMessage(t, a.Result).ReplyToMessage != nil {
		t.Fatalf("reply to a deleted message with allow_sending_without_reply: %d %s", status, a.Result)
	}
	if s, _ := tg.Message(chat, decodeMessage(t, a.Result).MessageID); s.ReplyTo != 0 || s.Kind != "photo" {
		t.Errorf("stored: %+v", s)
	}
	if s, _ := tg.Message(chat, m.MessageID); s.JSON == nil || bytes.Contains(s.JSON, []byte("reply_to_message")) {
		t.Errorf("a message replying to a deleted one shows no reply_to_message: %s", s.JSON)
	}
	status, a, _ = callJSON(t, tg, testToken, "editMessageText", map[string]any{"chat_id": chat, "message_id": 1473, "text": "x"})
	wantError(t, status, a, 400, "Bad Request: message to edit not found")

	// Updates posted through the fake register their message.
	tg.PushUpdate(map[string]any{"message": userPhoto(1500)})
	if u, ok := tg.Message(chat, 1500); !ok || u.Kind != "photo" {
		t.Errorf("PushUpdate did not register the message: %+v", u)
	}
	if got := tg.Messages(chat); len(got) != 4 || got[0].ID != 1473 || !got[0].Deleted || got[3].ID != 1500 {
		t.Errorf("Messages: %+v", got)
	}
}

func TestTelegramEditMessage(t *testing.T) {
	tg := NewTelegram(t, testToken)
	m := sendMenu(t, tg)
	status, a := callMultipart(t, tg, "sendPhoto", part{name: "chat_id", value: fmt.Sprint(chat)},
		part{name: "photo", filename: "out.png", value: string(PNG(40, 30))}, part{name: "caption", value: "done"},
		part{name: "reply_markup", value: `{"inline_keyboard":[[{"text":"Again","callback_data":"again"}]]}`})
	if status != 200 {
		t.Fatalf("sendPhoto: %d %s", status, a.Description)
	}
	photo := decodeMessage(t, a.Result).MessageID
	edit := func(method string, params map[string]any) (int, tgAnswerJSON) {
		t.Helper()
		status, a, _ := callJSON(t, tg, testToken, method, params)
		return status, a
	}
	status, a = edit("editMessageText", map[string]any{"text": "x"})
	wantError(t, status, a, 400, "Bad Request: message identifier is not specified")
	status, a = edit("editMessageText", map[string]any{"message_id": m.MessageID, "text": "x"})
	wantError(t, status, a, 400, "Bad Request: chat_id is empty")
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": 999999, "text": "x"})
	wantError(t, status, a, 400, "Bad Request: message to edit not found")
	status, a = edit("editMessageText", map[string]any{"chat_id": chat + 1, "message_id": m.MessageID, "text": "x"})
	wantError(t, status, a, 400, "Bad Request: message to edit not found")
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": 1473, "text": "x"})
	wantError(t, status, a, 400, "Bad Request: message can't be edited")
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": photo, "text": "x"})
	wantError(t, status, a, 400, "Bad Request: there is no text in the message to edit")
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": m.MessageID, "text": " "})
	wantError(t, status, a, 400, "Bad Request: message text is empty")
	const notModifiedText = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": m.MessageID, "text": "Choose an effect", "reply_markup": menu})
	wantError(t, status, a, 400, notModifiedText)

	cancel := map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Cancel", "callback_data": "cancel:1"}}}}
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": m.MessageID, "text": "processing…", "reply_markup": cancel})
	got := decodeMessage(t, a.Result)
	if status != 200 || got.Text != "processing…" || got.EditDate == 0 || got.ReplyMarkup == nil ||
		fmt.Sprint(got.ReplyMarkup.InlineKeyboard.Data()) != "[cancel:1]" || got.ReplyToMessage == nil {
		t.Fatalf("editMessageText: %d %s", status, a.Result)
	}
	// Without reply_markup the keyboard goes, as on Telegram.
	status, a = edit("editMessageText", map[string]any{"chat_id": chat, "message_id": m.MessageID, "text": "done"})
	if status != 200 || decodeMessage(t, a.Result).ReplyMarkup != nil {
		t.Fatalf("edit without reply_markup: %d %s", status, a.Result)
	}
	status, a = edit("editMessageReplyMarkup", map[string]any{"chat_id": chat, "message_id": m.MessageID})
	wantError(t, status, a, 400, notModifiedText)

	// editMessageReplyMarkup works on photos too.
	status, a = edit("editMessageReplyMarkup", map[string]any{"chat_id": chat, "message_id": photo,
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Again", "callback_data": "again"}}}}})
	wantError(t, status, a, 400, notModifiedText)
	status, a = edit("editMessageReplyMarkup", map[string]any{"chat_id": chat, "message_id": photo, "reply_markup": `{"inline_keyboard":[]}`})
	if got := decodeMessage(t, a.Result); status != 200 || got.ReplyMarkup != nil || got.Caption != "done" || got.EditDate == 0 {
		t.Errorf("keyboard removed: %d %s", status, a.Result)
	}

	s, _ := tg.Message(chat, m.MessageID)
	var texts []string
	for _, v := range s.History {
		texts = append(texts, fmt.Sprintf("%s:%s:%v", v.Method, v.Text, v.Keyboard.Data()))
	}
	if want := "[sendMessage:Choose an effect:[e:upscale e:restore e:cartoon] editMessageText:processing…:[cancel:1] editMessageText:done:[]]"; fmt.Sprint(texts) != want {
		t.Errorf("history %v, want %s", texts, want)
	}
	if s.Text != "done" || s.Keyboard != nil {
		t.Errorf("current state: %+v", s)
	}
}

func TestTelegramPress(t *testing.T) {
	rec := &recTB{TB: t}
	tg := NewTelegram(rec, testToken)
	m := sendMenu(t, tg)
	raw := tg.Press(t, chat, m.MessageID, "e:upscale", User{})
	var u struct {
		UpdateID      int64 `json:"update_id"`
		CallbackQuery struct {
			ID   string `json:"id"`
			From User   `json:"from"`
			Data string `json:"data"`
			// ChatInstance is a signed 64-bit number in a string.
			ChatInstance string `json:"chat_instance"`
			Message      struct {
				MessageID   int   `json:"message_id"`
				Date        int64 `json:"date"`
				From        User  `json:"from"`
				ReplyMarkup *tgMarkup
				Reply       *struct {
					MessageID int               `json:"message_id"`
					Photo     []json.RawMessage `json:"photo"`
				} `json:"reply_to_message"`
				Chat struct {
					ID int64 `json:"id"`
				} `json:"chat"`
			} `json:"message"`
		} `json:"callback_query"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	cq := u.CallbackQuery
	if u.UpdateID < 700000001 || cq.ID == "" || cq.From.ID != chat || cq.From.IsBot || cq.Data != "e:upscale" ||
		cq.ChatInstance == "" || cq.Message.MessageID != m.MessageID || cq.Message.Date == 0 || !cq.Message.From.IsBot ||
		cq.Message.Chat.ID != chat || cq.Message.Reply == nil || cq.Message.Reply.MessageID != 1473 || len(cq.Message.Reply.Photo) != 2 {
		t.Errorf("callback_query update: %s", raw)
	}
	if again := tg.Press(t, chat, m.MessageID, "e:cartoon", User{ID: 5, FirstName: "Bob"}); bytes.Contains(again, []byte(cq.ID)) ||
		!bytes.Contains(again, []byte(`"chat_instance":"`+cq.ChatInstance+`"`)) {
		t.Errorf("second press: a new id and the same chat_instance: %s", again)
	}

	// Buttons no longer on the keyboard cannot be pressed.
	callJSON(t, tg, testToken, "editMessageText", map[string]any{"chat_id": chat, "message_id": m.MessageID, "text": "processing…",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Cancel", "callback_data": "cancel"}}}}})
	if got := tg.Press(rec, chat, m.MessageID, "e:upscale", User{}); got != nil {
		t.Errorf("pressing a replaced button returned %s", got)
	}
	tg.Press(rec, chat, 1473, "e:upscale", User{})
	tg.Press(rec, chat, 4242, "e:upscale", User{})
	if f := rec.failures(); len(f) != 3 || !strings.Contains(f[0], `no button with callback data "e:upscale"; its keyboard has ["cancel"]`) ||
		!strings.Contains(f[1], "is a user's message") || !strings.Contains(f[2], "has no message 4242") {
		t.Errorf("failures: %q", f)
	}
	if p := tg.Presses(); len(p) != 2 || p[0].ID != cq.ID || p[0].Data != "e:upscale" || p[1].From.FirstName != "Bob" {
		t.Errorf("Presses: %+v", p)
	}

	// A message older than 48 h is inaccessible.
	tg.AgeMessage(chat, m.MessageID, 49*time.Hour)
	old := tg.Press(t, chat, m.MessageID, "cancel", User{})
	var inacc struct {
		CallbackQuery struct {
			Message map[string]json.RawMessage `json:"message"`
		} `json:"callback_query"`
	}
	_ = json.Unmarshal(old, &inacc)
	if msg := inacc.CallbackQuery.Message; len(msg) != 3 || string(msg["date"]) != "0" || string(msg["message_id"]) != fmt.Sprint(m.MessageID) ||
		!strings.Contains(string(msg["chat"]), fmt.Sprint(chat)) {
		t.Errorf("inaccessible message: %s", old)
	}
	if p := tg.Presses(); !p[2].Inaccessible {
		t.Errorf("press of an old message: %+v", p[2])
	}

	// getUpdates with allowed_updates message and callback_query carries presses.
	tg.PushUpdate(raw)
	_, a, _ := callJSON(t, tg, testToken, "getUpdates", map[string]any{"allowed_updates": []string{"message", "callback_query"}})
	if !strings.Contains(string(a.Result), `"data":"e:upscale"`) {
		t.Errorf("getUpdates: %s", a.Result)
	}
	tg.PushUpdate(tg.Press(t, chat, m.MessageID, "cancel", User{}))
	_, a, _ = callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": u.UpdateID + 1, "allowed_updates": []string{"message"}})
	if string(a.Result) != "[]" {
		t.Errorf("getUpdates without callback_query in allowed_updates: %s", a.Result)
	}
}

func TestTelegramAnswerCallbackQuery(t *testing.T) {
	tg := NewTelegram(t, testToken)
	m := sendMenu(t, tg)
	const tooOld = "Bad Request: query is too old and response timeout expired or query ID is invalid"
	id := func(update json.RawMessage) string {
		var u struct {
			CallbackQuery struct {
				ID string `json:"id"`
			} `json:"callback_query"`
		}
		_ = json.Unmarshal(update, &u)
		return u.CallbackQuery.ID
	}
	q1 := id(tg.Press(t, chat, m.MessageID, "e:upscale", User{}))
	status, _, body := callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": q1, "text": "Upscaling…"})
	if status != 200 || string(body) != `{"ok":true,"result":true}` {
		t.Errorf("answer: %d %s", status, body)
	}
	status, a, _ := callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": q1})
	wantError(t, status, a, 400, tooOld)
	status, a, _ = callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": "1234567"})
	wantError(t, status, a, 400, tooOld)

	q2 := id(tg.Press(t, chat, m.MessageID, "e:restore", User{}))
	status, a, _ = callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": q2, "text": strings.Repeat("a", 201)})
	wantError(t, status, a, 400, "Bad Request: MESSAGE_TOO_LONG")
	status, _, _ = callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": q2, "text": "Busy", "show_alert": true})
	if status != 200 {
		t.Errorf("answer after a failed one: %d", status)
	}

	tg.CallbackQueryTimeout = 50 * time.Millisecond
	q3 := id(tg.Press(t, chat, m.MessageID, "e:cartoon", User{}))
	time.Sleep(100 * time.Millisecond)
	status, a, _ = callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": q3})
	wantError(t, status, a, 400, tooOld)

	p := tg.Presses()
	if len(p) != 3 || len(p[0].Answers) != 2 || p[0].Answers[0].Text != "Upscaling…" || p[0].Answers[0].Error != "" ||
		p[0].Answers[1].Error != tooOld || len(p[1].Answers) != 2 || !p[1].Answers[1].ShowAlert || p[1].Answers[1].Error != "" ||
		len(p[2].Answers) != 1 || p[2].Answers[0].Error != tooOld {
		t.Errorf("answers: %+v", p)
	}
}

func TestTelegramWebhookRepliesOfAMenu(t *testing.T) {
	tg := NewTelegram(t, testToken)
	m := sendMenu(t, tg)
	var mu sync.Mutex
	var reply string
	bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	}))
	defer bot.Close()
	if status, _, _ := callJSON(t, tg, testToken, "setWebhook", map[string]any{"url": bot.URL, "allowed_updates": []string{"message"}}); status != 200 {
		t.Fatal("setWebhook")
	}
	press := tg.Press(t, chat, m.MessageID, "e:upscale", User{})
	if _, err := tg.DeliverUpdate(press); err == nil || !strings.Contains(err.Error(), "callback_query update is not in allowed_updates") {
		t.Errorf("DeliverUpdate of a kind left out of allowed_updates: %v", err)
	}
	callJSON(t, tg, testToken, "setWebhook", map[string]any{"url": bot.URL, "allowed_updates": []string{"message", "callback_query"}})

	var u struct {
		CallbackQuery struct {
			ID string `json:"id"`
		} `json:"callback_query"`
	}
	_ = json.Unmarshal(press, &u)
	for _, r := range []string{
		`{"method":"answerCallbackQuery","callback_query_id":"` + u.CallbackQuery.ID + `","text":"Upscaling…"}`,
		fmt.Sprintf(`{"method":"editMessageText","chat_id":%d,"message_id":%d,"text":"processing…","reply_markup":{"inline_keyboard":[[{"text":"Cancel","callback_data":"c"}]]}}`, chat, m.MessageID),
		fmt.Sprintf(`{"method":"sendMessage","chat_id":%d,"text":"queued","reply_parameters":{"message_id":1473,"allow_sending_without_reply":true}}`, chat),
	} {
		mu.Lock()
		reply = r
		mu.Unlock()
		if status, err := tg.DeliverUpdate(press); err != nil || status != 200 {
			t.Fatalf("DeliverUpdate: %d %v", status, err)
		}
	}
	if p := tg.Presses(); len(p[0].Answers) != 1 || p[0].Answers[0].Text != "Upscaling…" || p[0].Answers[0].Error != "" {
		t.Errorf("answer by webhook reply: %+v", p[0].Answers)
	}
	if s, _ := tg.Message(chat, m.MessageID); s.Text != "processing…" || fmt.Sprint(s.Keyboard.Data()) != "[c]" {
		t.Errorf("edit by webhook reply: %+v", s)
	}
	for _, method := range []string{"answerCallbackQuery", "editMessageText", "sendMessage"} {
		if c := tg.Calls(method); len(c) == 0 || c[len(c)-1].Header.Get("X-Fake-Webhook-Reply") != "1" || c[len(c)-1].Status != 200 {
			t.Errorf("%s by webhook reply: %+v", method, c)
		}
	}
}

func TestTelegramDocuments(t *testing.T) {
	tg := NewTelegram(t, testToken)
	tg.AddUserMessage(userPhoto(1473))
	png := PNG(300, 200)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("chat_id", fmt.Sprint(chat))
	_ = w.WriteField("caption", "Upscaled ×4")
	_ = w.WriteField("reply_parameters", `{"message_id":1473,"allow_sending_without_reply":true}`)
	_ = w.WriteField("reply_markup", `{"inline_keyboard":[[{"text":"Again","callback_data":"again"},{"text":"Other effects","callback_data":"menu"}]]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="document"; filename="photo_upscaled.png"`)
	h.Set("Content-Type", "image/x-png")
	pw, _ := w.CreatePart(h)
	_, _ = pw.Write(png)
	_ = w.Close()
	// A streamed body: chunked, no Content-Length.
	req, _ := http.NewRequest(http.MethodPost, tg.URL+"/bot"+testToken+"/sendDocument", io.MultiReader(&buf))
	req.Header.Set("Content-Type", w.FormDataContentType())
	if req.ContentLength != 0 {
		t.Fatal("the request must have no length")
	}
	status, body, _ := doReq(t, req)
	var a tgAnswerJSON
	_ = json.Unmarshal(body, &a)
	if status != 200 {
		t.Fatalf("chunked sendDocument: %d %s", status, body)
	}
	if c := tg.Calls("sendDocument")[0]; len(c.Header["Content-Length"]) != 0 {
		t.Errorf("the call had a Content-Length: %v", c.Header)
	}
	got := decodeMessage(t, a.Result)
	s, _ := tg.Message(chat, got.MessageID)
	f := s.File
	if s.Kind != "document" || s.Text != "Upscaled ×4" || s.ReplyTo != 1473 || got.ReplyToMessage == nil || len(s.Keyboard[0]) != 2 ||
		f == nil || f.Name != "photo_upscaled.png" || f.MimeType != "image/png" || f.UploadType != "image/x-png" || f.Size != int64(len(png)) ||
		got.Document == nil || got.Document.FileName != "photo_upscaled.png" || got.Document.MimeType != "image/png" {
		t.Fatalf("document message: %+v %+v %s", s, f, a.Result)
	}
	// The bytes sent are the bytes downloadable.
	_, g, _ := callJSON(t, tg, testToken, "getFile", map[string]any{"file_id": f.ID})
	var file struct {
		FilePath string `json:"file_path"`
	}
	_ = json.Unmarshal(g.Result, &file)
	req, _ = http.NewRequest(http.MethodGet, tg.URL+"/file/bot"+testToken+"/"+file.FilePath, nil)
	if status, data, _ := doReq(t, req); status != 200 || !bytes.Equal(data, png) || !strings.HasSuffix(file.FilePath, ".png") {
		t.Errorf("download of the document %q: %d, %d bytes", file.FilePath, status, len(data))
	}
	// An unknown extension is application/octet-stream.
	_, a = callMultipart(t, tg, "sendDocument", part{name: "chat_id", value: "1"}, part{name: "document", filename: "result.heif2", value: "x"})
	if d := decodeMessage(t, a.Result).Document; d == nil || d.MimeType != "application/octet-stream" {
		t.Errorf("unknown extension: %s", a.Result)
	}

	// By URL, only GIF, PDF and ZIP.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".pdf") {
			w.Header().Set("Content-Type", "application/pdf")
		} else {
			w.Header().Set("Content-Type", "image/png")
		}
		_, _ = w.Write(png)
	}))
	defer web.Close()
	status, a, _ = callJSON(t, tg, testToken, "sendDocument", map[string]any{"chat_id": 1, "document": web.URL + "/report.pdf"})
	if d := decodeMessage(t, a.Result).Document; status != 200 || d == nil || d.FileName != "report.pdf" || d.MimeType != "application/pdf" {
		t.Errorf("PDF by URL: %d %s", status, a.Result)
	}
	status, a, _ = callJSON(t, tg, testToken, "sendDocument", map[string]any{"chat_id": 1, "document": web.URL + "/x.png"})
	wantError(t, status, a, 400, "Bad Request: wrong type of the web page content")

	// An album of documents, captions per item, replying to the photo.
	status, a = callMultipart(t, tg, "sendMediaGroup", part{name: "chat_id", value: fmt.Sprint(chat)},
		part{name: "media", value: `[{"type":"document","media":"attach://a","caption":"first"},{"type":"document","media":"attach://b","caption":"second"}]`},
		part{name: "reply_parameters", value: `{"message_id":1473,"allow_sending_without_reply":true}`},
		part{name: "a", filename: "a.png", value: string(png)}, part{name: "b", filename: "b.webp", value: "RIFF"})
	var album []sentMessage
	if err := json.Unmarshal(a.Result, &album); err != nil || status != 200 || len(album) != 2 || album[1].Caption != "second" ||
		album[0].Document == nil || album[1].Document.MimeType != "image/webp" || album[0].ReplyToMessage == nil {
		t.Fatalf("album of documents: %d %s %s", status, a.Description, a.Result)
	}
	if s, _ := tg.Message(chat, album[1].MessageID); s.Kind != "document" || s.ReplyTo != 1473 || s.MediaGroupID == "" || s.File.Name != "b.webp" {
		t.Errorf("stored album item: %+v", s)
	}
	status, a = callMultipart(t, tg, "sendMediaGroup", part{name: "chat_id", value: "1"},
		part{name: "media", value: `[{"type":"document","media":"attach://a"},{"type":"photo","media":"attach://b"}]`},
		part{name: "a", filename: "a.png", value: string(png)}, part{name: "b", filename: "b.png", value: string(png)})
	wantError(t, status, a, 400, "Bad Request: document can't be mixed with other media types")
}
