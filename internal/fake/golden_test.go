package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const goldenDir = "../../testdata"

// TestGoldenRoundTrip decodes every golden file, encodes it again and
// decodes that, so that malformed or lossy goldens fail.
func TestGoldenRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 26 {
		t.Fatalf("found %d golden files under %s, want at least 26", len(files), goldenDir)
	}
	readme, err := os.ReadFile(filepath.Join(goldenDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(goldenDir, f)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var first map[string]any
			if err := dec.Decode(&first); err != nil {
				t.Fatalf("not a JSON object: %v", err)
			}
			if dec.More() {
				t.Fatal("trailing data after the JSON object")
			}
			again, err := json.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			dec = json.NewDecoder(bytes.NewReader(again))
			dec.UseNumber()
			var second map[string]any
			if err := dec.Decode(&second); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(first, second) {
				t.Errorf("round trip changed the payload:\n%s\n%s", data, again)
			}
			if !strings.Contains(string(readme), "`"+filepath.Base(f)+"`") {
				t.Errorf("testdata/README.md does not cite %s", filepath.Base(f))
			}
		})
	}
}

func loadGolden(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type goldenPhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
}

type goldenUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		MessageID int `json:"message_id"`
		From      struct {
			ID           int64  `json:"id"`
			LanguageCode string `json:"language_code"`
		} `json:"from"`
		Chat struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		Date     int64             `json:"date"`
		Text     string            `json:"text"`
		Caption  string            `json:"caption"`
		Photo    []goldenPhotoSize `json:"photo"`
		Document *struct {
			FileID   string `json:"file_id"`
			MimeType string `json:"mime_type"`
			FileSize int64  `json:"file_size"`
		} `json:"document"`
		Sticker *struct {
			FileID string `json:"file_id"`
			Type   string `json:"type"`
		} `json:"sticker"`
	} `json:"message"`
	EditedMessage *struct {
		EditDate int64  `json:"edit_date"`
		Text     string `json:"text"`
	} `json:"edited_message"`
	CallbackQuery *struct {
		ID           string `json:"id"`
		Data         string `json:"data"`
		ChatInstance string `json:"chat_instance"`
	} `json:"callback_query"`
}

// TestGoldenTelegram checks what each Telegram golden is for.
func TestGoldenTelegram(t *testing.T) {
	largestLast := func(ps []goldenPhotoSize) bool {
		for _, p := range ps[:len(ps)-1] {
			if p.Width*p.Height > ps[len(ps)-1].Width*ps[len(ps)-1].Height {
				return false
			}
		}
		return true
	}
	var u goldenUpdate
	loadGolden(t, "telegram/update_photo.json", &u)
	if m := u.Message; m == nil || len(m.Photo) < 3 || len(m.Photo) > 4 || m.From.LanguageCode != "ru" || m.Chat.Type != "private" ||
		!sort.SliceIsSorted(m.Photo, func(i, j int) bool { return m.Photo[i].FileSize < m.Photo[j].FileSize }) || !largestLast(m.Photo) {
		t.Errorf("update_photo.json: %+v", u.Message)
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_photo_unordered.json", &u)
	if u.Message == nil || len(u.Message.Photo) < 3 || largestLast(u.Message.Photo) {
		t.Errorf("update_photo_unordered.json: the largest size must not be last")
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_big_photo.json", &u)
	if ps := u.Message.Photo; !largestLast(ps) || ps[len(ps)-1].FileSize <= 20<<20 {
		t.Errorf("update_big_photo.json: the largest size must be over 20 MB")
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_text.json", &u)
	if u.Message == nil || u.Message.Text == "" || u.Message.Photo != nil {
		t.Errorf("update_text.json: %+v", u.Message)
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_document_image.json", &u)
	if u.Message == nil || u.Message.Document == nil || u.Message.Document.MimeType != "image/png" || !strings.HasPrefix(u.Message.Document.FileID, "BQAC") {
		t.Errorf("update_document_image.json: %+v", u.Message)
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_sticker.json", &u)
	if u.Message == nil || u.Message.Sticker == nil || u.Message.Sticker.Type != "regular" {
		t.Errorf("update_sticker.json: %+v", u.Message)
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_edited_message.json", &u)
	if u.EditedMessage == nil || u.EditedMessage.EditDate == 0 || u.Message != nil {
		t.Errorf("update_edited_message.json: %+v", u)
	}
	u = goldenUpdate{}
	loadGolden(t, "telegram/update_callback_query.json", &u)
	if u.CallbackQuery == nil || u.CallbackQuery.Data == "" || u.CallbackQuery.ChatInstance == "" {
		t.Errorf("update_callback_query.json: %+v", u)
	}

	// Every update goes through the fake's getUpdates unchanged.
	tg := NewTelegram(t, testToken)
	files, _ := filepath.Glob(filepath.Join(goldenDir, "telegram", "update_*.json"))
	want := map[int64]bool{}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		var g goldenUpdate
		_ = json.Unmarshal(data, &g)
		if g.UpdateID < 100000000 {
			t.Errorf("%s: unrealistic update_id %d", f, g.UpdateID)
		}
		if id := tg.PushUpdate(data); id != g.UpdateID {
			t.Errorf("%s: PushUpdate assigned %d, the golden has %d", f, id, g.UpdateID)
		}
		want[g.UpdateID] = true
	}
	_, a, _ := callJSON(t, tg, testToken, "getUpdates", map[string]any{"allowed_updates": []string{"message", "edited_message", "callback_query", "pre_checkout_query"}})
	var got []goldenUpdate
	if err := json.Unmarshal(a.Result, &got); err != nil || len(got) != len(want) {
		t.Errorf("getUpdates returned %d of %d goldens: %v", len(got), len(want), err)
	}
}

var lowerAlnumID = regexp.MustCompile(`^[a-z0-9]+$`)

// TestGoldenReplicate checks what each Replicate golden is for.
func TestGoldenReplicate(t *testing.T) {
	for name, want := range map[string]struct {
		status string
		output string // "string", "list", "null"
	}{
		"prediction_succeeded_string.json":      {"succeeded", "string"},
		"prediction_succeeded_list.json":        {"succeeded", "list"},
		"prediction_succeeded_text_chunks.json": {"succeeded", "list"},
		"prediction_failed.json":                {"failed", "null"},
		"prediction_canceled.json":              {"canceled", "null"},
		"prediction_aborted.json":               {"aborted", "null"},
		"prediction_starting.json":              {"starting", "null"},
	} {
		var p struct {
			ID     string            `json:"id"`
			Status string            `json:"status"`
			Output json.RawMessage   `json:"output"`
			Error  json.RawMessage   `json:"error"`
			URLs   map[string]string `json:"urls"`
		}
		loadGolden(t, "replicate/"+name, &p)
		kind := "null"
		switch out := strings.TrimSpace(string(p.Output)); {
		case strings.HasPrefix(out, `"`):
			kind = "string"
		case strings.HasPrefix(out, "["):
			kind = "list"
		}
		if !lowerAlnumID.MatchString(p.ID) || p.Status != want.status || kind != want.output ||
			!strings.HasSuffix(p.URLs["get"], "/predictions/"+p.ID) || !strings.HasSuffix(p.URLs["cancel"], "/predictions/"+p.ID+"/cancel") {
			t.Errorf("%s: id %q status %q output %s urls %v", name, p.ID, p.Status, p.Output, p.URLs)
		}
		if hasErr := string(p.Error) != "null" && len(p.Error) > 0; hasErr != (want.status == "failed") {
			t.Errorf("%s: error %s", name, p.Error)
		}
	}
	var secret struct {
		Key string `json:"key"`
	}
	loadGolden(t, "replicate/webhook_secret.json", &secret)
	if !strings.HasPrefix(secret.Key, "whsec_") {
		t.Errorf("webhook_secret.json: %q", secret.Key)
	}
	for name, status := range map[string]int{"error_401.json": 401, "error_422.json": 422, "error_429.json": 429} {
		var e struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		loadGolden(t, "replicate/"+name, &e)
		if e.Status != status || e.Detail == "" {
			t.Errorf("%s: %+v", name, e)
		}
	}
	// The fake answers the same bodies as the 401 and 422 goldens.
	r := NewReplicate(t, replicateToken)
	for name, call := range map[string]func() []byte{
		"error_401.json": func() []byte {
			_, body, _ := rcall(t, &Replicate{URL: r.URL, Token: "wrong"}, "GET", "/account", nil, nil)
			return body
		},
		"error_422.json": func() []byte {
			_, body, _ := rcall(t, r, "POST", "/predictions", map[string]any{"version": DefaultModelVersion, "input": map[string]any{}}, nil)
			return body
		},
	} {
		var golden, fake map[string]any
		loadGolden(t, "replicate/"+name, &golden)
		if err := json.Unmarshal(call(), &fake); err != nil || !reflect.DeepEqual(golden, fake) {
			t.Errorf("the fake's answer differs from %s: %v %v", name, fake, err)
		}
	}
}

// sameShape reports the paths of got's object keys that want does not
// have, comparing arrays element by element with want's first element.
func sameShape(path string, got, want any) []string {
	var out []string
	switch g := got.(type) {
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok {
			return []string{path + " is an object"}
		}
		for k, v := range g {
			if wv, ok := w[k]; ok {
				out = append(out, sameShape(path+"."+k, v, wv)...)
			} else {
				out = append(out, path+"."+k)
			}
		}
	case []any:
		w, ok := want.([]any)
		if !ok || len(w) == 0 {
			return []string{path + " is an array"}
		}
		for i, v := range g {
			out = append(out, sameShape(fmt.Sprintf("%s[%d]", path, i), v, w[0])...)
		}
	}
	return out
}

func decodeAny(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// TestGoldenTelegramMenu checks the goldens of the menu of effects, and
// that the fake writes the same shapes and error bodies.
func TestGoldenTelegramMenu(t *testing.T) {
	type cqMessage struct {
		MessageID   int                        `json:"message_id"`
		Date        int64                      `json:"date"`
		Text        string                     `json:"text"`
		ReplyMarkup *tgMarkup                  `json:"reply_markup"`
		Reply       map[string]json.RawMessage `json:"reply_to_message"`
	}
	var press struct {
		CallbackQuery struct {
			Data    string                     `json:"data"`
			Message map[string]json.RawMessage `json:"message"`
		} `json:"callback_query"`
	}
	loadGolden(t, "telegram/update_callback_query_reply_photo.json", &press)
	var m cqMessage
	raw, _ := json.Marshal(press.CallbackQuery.Message)
	_ = json.Unmarshal(raw, &m)
	if m.Date == 0 || m.ReplyMarkup == nil || !slices.Contains(m.ReplyMarkup.InlineKeyboard.Data(), press.CallbackQuery.Data) ||
		m.Reply["photo"] == nil || press.CallbackQuery.Message["from"] == nil {
		t.Errorf("update_callback_query_reply_photo.json: %+v", m)
	}
	var inacc struct {
		CallbackQuery struct {
			Message map[string]json.RawMessage `json:"message"`
		} `json:"callback_query"`
	}
	loadGolden(t, "telegram/update_callback_query_inaccessible.json", &inacc)
	if msg := inacc.CallbackQuery.Message; len(msg) != 3 || string(msg["date"]) != "0" || msg["chat"] == nil || msg["message_id"] == nil {
		t.Errorf("update_callback_query_inaccessible.json: %v", msg)
	}
	var edited struct {
		OK     bool      `json:"ok"`
		Result cqMessage `json:"result"`
	}
	loadGolden(t, "telegram/answer_edit_message_text.json", &edited)
	if !edited.OK || edited.Result.Text == "" || edited.Result.ReplyMarkup == nil || edited.Result.Reply == nil {
		t.Errorf("answer_edit_message_text.json: %+v", edited)
	}

	// The fake, in the same story: the golden's photo, the menu replying
	// to it, a press, the edit into a status, a press of the old message.
	tg := NewTelegram(t, testToken)
	photo := m.Reply
	tg.AddUserMessage(photo)
	chatID := int64(284516093)
	_, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": chatID, "text": m.Text, "reply_markup": m.ReplyMarkup,
		"reply_parameters": map[string]any{"message_id": 1473, "allow_sending_without_reply": true}})
	sent := decodeMessage(t, a.Result)
	fakePress := tg.Press(t, chatID, sent.MessageID, press.CallbackQuery.Data, User{})
	var golden map[string]any
	loadGolden(t, "telegram/update_callback_query_reply_photo.json", &golden)
	if extra := sameShape("update", decodeAny(t, fakePress), golden); len(extra) > 0 {
		t.Errorf("the fake's press has fields the golden lacks: %v", extra)
	}
	for _, k := range []string{"id", "from", "message", "chat_instance", "data"} {
		if decodeAny(t, fakePress)["callback_query"].(map[string]any)[k] == nil {
			t.Errorf("the fake's press has no %s", k)
		}
	}
	_, a, body := callJSON(t, tg, testToken, "editMessageText", map[string]any{"chat_id": chatID, "message_id": sent.MessageID,
		"text": edited.Result.Text, "reply_markup": edited.Result.ReplyMarkup})
	loadGolden(t, "telegram/answer_edit_message_text.json", &golden)
	if extra := sameShape("answer", decodeAny(t, body), golden); len(extra) > 0 || !a.OK {
		t.Errorf("the fake's editMessageText answer has fields the golden lacks: %v", extra)
	}
	tg.AgeMessage(chatID, sent.MessageID, 49*time.Hour)
	loadGolden(t, "telegram/update_callback_query_inaccessible.json", &golden)
	if extra := sameShape("update", decodeAny(t, tg.Press(t, chatID, sent.MessageID, "cancel:1474", User{})), golden); len(extra) > 0 {
		t.Errorf("the fake's inaccessible press has fields the golden lacks: %v", extra)
	}

	// The fake answers the error and answer goldens' bodies exactly.
	for name, call := range map[string]func() []byte{
		"answer_callback_query.json": func() []byte {
			var u struct {
				CallbackQuery struct {
					ID string `json:"id"`
				} `json:"callback_query"`
			}
			_ = json.Unmarshal(fakePress, &u)
			_, _, body := callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": u.CallbackQuery.ID})
			return body
		},
		"error_query_too_old.json": func() []byte {
			_, _, body := callJSON(t, tg, testToken, "answerCallbackQuery", map[string]any{"callback_query_id": "1"})
			return body
		},
		"error_message_not_modified.json": func() []byte {
			_, _, body := callJSON(t, tg, testToken, "editMessageText", map[string]any{"chat_id": chatID, "message_id": sent.MessageID,
				"text": edited.Result.Text, "reply_markup": edited.Result.ReplyMarkup})
			return body
		},
		"error_message_to_edit_not_found.json": func() []byte {
			_, _, body := callJSON(t, tg, testToken, "editMessageText", map[string]any{"chat_id": chatID, "message_id": 1, "text": "x"})
			return body
		},
	} {
		var want map[string]any
		loadGolden(t, "telegram/"+name, &want)
		if got := decodeAny(t, call()); !reflect.DeepEqual(got, want) {
			t.Errorf("the fake's answer differs from %s: %v", name, got)
		}
	}
}
