package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

// tgAnswerJSON is a decoded Bot API answer.
type tgAnswerJSON struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func doReq(t *testing.T, req *http.Request) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

// callJSON calls a Bot API method with a JSON body.
func callJSON(t *testing.T, tg *Telegram, token, method string, params any) (int, tgAnswerJSON, []byte) {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, tg.URL+"/bot"+token+"/"+method, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	status, body, _ := doReq(t, req)
	var a tgAnswerJSON
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s answered %d %q: %v", method, status, body, err)
	}
	return status, a, body
}

// part is one multipart part: a field, or a file when filename is set.
type part struct{ name, filename, value string }

// callMultipart calls a method the way go-telegram/bot does.
func callMultipart(t *testing.T, tg *Telegram, method string, parts ...part) (int, tgAnswerJSON) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		var pw io.Writer
		var err error
		if p.filename != "" {
			pw, err = w.CreateFormFile(p.name, p.filename)
		} else {
			pw, err = w.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(pw, p.value)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, tg.URL+"/bot"+tg.Token+"/"+method, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	status, body, _ := doReq(t, req)
	var a tgAnswerJSON
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s answered %d %q: %v", method, status, body, err)
	}
	return status, a
}

func wantError(t *testing.T, status int, a tgAnswerJSON, wantStatus int, wantDesc string) {
	t.Helper()
	if status != wantStatus || a.OK || a.ErrorCode != wantStatus || a.Description != wantDesc {
		t.Errorf("got %d ok=%v error_code=%d %q, want %d %q", status, a.OK, a.ErrorCode, a.Description, wantStatus, wantDesc)
	}
}

func TestTelegramAuthAndRouting(t *testing.T) {
	tg := NewTelegram(t, testToken)

	req, _ := http.NewRequest(http.MethodGet, tg.URL+"/bot123:wrong/getMe", nil)
	status, body, _ := doReq(t, req)
	if status != 401 || string(body) != `{"ok":false,"error_code":401,"description":"Unauthorized"}` {
		t.Errorf("wrong token: %d %s", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, tg.URL+"/bot"+testToken+"/sendTelepathy", nil)
	status, body, _ = doReq(t, req)
	if status != 404 || string(body) != `{"ok":false,"error_code":404,"description":"Not Found"}` {
		t.Errorf("unknown method: %d %s", status, body)
	}

	// Method names are case-insensitive; GET with no body works.
	req, _ = http.NewRequest(http.MethodGet, tg.URL+"/bot"+testToken+"/GETME", nil)
	status, body, _ = doReq(t, req)
	var me struct {
		OK     bool `json:"ok"`
		Result struct {
			ID       int64  `json:"id"`
			IsBot    bool   `json:"is_bot"`
			Username string `json:"username"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &me); err != nil || status != 200 || !me.OK || me.Result.ID != 123456789 || !me.Result.IsBot {
		t.Errorf("getMe: %d %s", status, body)
	}
	// go-telegram/bot sends methods without parameters as an empty
	// multipart body.
	req, _ = http.NewRequest(http.MethodPost, tg.URL+"/bot"+testToken+"/getWebhookInfo", strings.NewReader(""))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=a8a7a6")
	if status, body, _ = doReq(t, req); status != 200 || string(body) != `{"ok":true,"result":{"url":"","has_custom_certificate":false,"pending_update_count":0}}` {
		t.Errorf("empty multipart body: %d %s", status, body)
	}
	if calls := tg.Calls("getme"); len(calls) != 2 || calls[0].Status != 401 || calls[1].Method != "getMe" {
		t.Errorf("Calls(getme) = %+v", calls)
	}
	if n := len(tg.Calls("")); n != 4 {
		t.Errorf("%d calls recorded, want 4", n)
	}
}

func TestTelegramParameterEncodings(t *testing.T) {
	tg := NewTelegram(t, testToken)
	base := tg.URL + "/bot" + testToken + "/sendMessage"

	// JSON body with a nested object.
	status, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{
		"chat_id": 42, "text": "hello", "reply_parameters": map[string]any{"message_id": 7}})
	if status != 200 || !a.OK {
		t.Fatalf("json: %d %+v", status, a)
	}
	var m struct {
		MessageID int `json:"message_id"`
		Chat      struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		Date int64  `json:"date"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(a.Result, &m); err != nil || m.MessageID != 1 || m.Chat.ID != 42 || m.Chat.Type != "private" || m.Text != "hello" || m.Date == 0 {
		t.Errorf("message: %s", a.Result)
	}

	// Form, and query parameters.
	req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(url.Values{"chat_id": {"42"}, "text": {"form"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, body, _ := doReq(t, req); status != 200 {
		t.Errorf("form: %d %s", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"?chat_id=42&text=query", nil)
	if status, body, _ := doReq(t, req); status != 200 || !strings.Contains(string(body), `"message_id":3`) {
		t.Errorf("query: %d %s", status, body)
	}

	calls := tg.Calls("sendMessage")
	if len(calls) != 3 || calls[0].Params["reply_parameters"] != `{"message_id":7}` || calls[0].Params["chat_id"] != "42" ||
		calls[1].Params["text"] != "form" || calls[2].Params["text"] != "query" {
		t.Errorf("recorded params: %+v", calls)
	}

	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"text": "x"})
	wantError(t, status, a, 400, "Bad Request: chat_id is empty")
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 42, "text": "  "})
	wantError(t, status, a, 400, "Bad Request: message text is empty")
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 42, "text": strings.Repeat("й", 4097)})
	wantError(t, status, a, 400, "Bad Request: message is too long")
}

// recTB records the failures a fake reports instead of failing the test.
type recTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recTB) Helper() {}

func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recTB) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

func (r *recTB) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func TestTelegramParseModeFailsTheTest(t *testing.T) {
	rec := &recTB{TB: t}
	tg := NewTelegram(rec, testToken)
	status, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 1, "text": "*hi*", "parse_mode": "MarkdownV2"})
	wantError(t, status, a, 400, "Bad Request: the fake does not model parse_mode")
	status, a, _ = callJSON(t, tg, testToken, "sendMediaGroup", map[string]any{"chat_id": 1, "media": []map[string]string{
		{"type": "photo", "media": "x", "caption": "<b>1</b>", "parse_mode": "HTML"}, {"type": "photo", "media": "y"}}})
	wantError(t, status, a, 400, "Bad Request: the fake does not model parse_mode")
	if f := rec.failures(); len(f) != 2 || !strings.Contains(f[0], "sendMessage") || !strings.Contains(f[1], "sendMediaGroup") ||
		!strings.HasSuffix(f[0], "the fake does not model parse_mode") {
		t.Errorf("failures reported: %q", f)
	}
	// Plain text is counted in UTF-16 units.
	if status, a, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 1, "text": strings.Repeat("😀", 2048)}); status != 200 {
		t.Errorf("4096 UTF-16 units: %d %s", status, a.Description)
	}
	status, a, _ = callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 1, "text": strings.Repeat("😀", 2048) + "a"})
	wantError(t, status, a, 400, "Bad Request: message is too long")
	status, a, _ = callJSON(t, tg, testToken, "sendPhoto", map[string]any{"chat_id": 1, "photo": "x",
		"caption": strings.Repeat("a", 1025)})
	wantError(t, status, a, 400, "Bad Request: message caption is too long")
}

func TestTelegramGetFileAndDownload(t *testing.T) {
	tg := NewTelegram(t, testToken)
	data := JPEG(40, 30)
	path := tg.AddFile("AgACAgIAAxkBAAIBY2ZfileA", data)
	tg.AddBigFile("BQACAgIAAxkBAAIBZGZbig", 25<<20)

	status, a, _ := callJSON(t, tg, testToken, "getFile", map[string]any{"file_id": "AgACAgIAAxkBAAIBY2ZfileA"})
	var f struct {
		FileID       string `json:"file_id"`
		FileUniqueID string `json:"file_unique_id"`
		FileSize     int64  `json:"file_size"`
		FilePath     string `json:"file_path"`
	}
	if err := json.Unmarshal(a.Result, &f); err != nil || status != 200 || f.FilePath != path || f.FileSize != int64(len(data)) ||
		f.FileID != "AgACAgIAAxkBAAIBY2ZfileA" || !strings.HasPrefix(f.FileUniqueID, "AQAD") || !strings.HasPrefix(path, "photos/file_") {
		t.Fatalf("getFile: %d %s", status, a.Result)
	}

	req, _ := http.NewRequest(http.MethodGet, tg.URL+"/file/bot"+testToken+"/"+f.FilePath, nil)
	status, body, hdr := doReq(t, req)
	if status != 200 || !bytes.Equal(body, data) || hdr.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("download: %d, %d bytes, Content-Length %q", status, len(body), hdr.Get("Content-Length"))
	}
	req, _ = http.NewRequest(http.MethodGet, tg.URL+"/file/bot123:wrong/"+f.FilePath, nil)
	if status, _, _ := doReq(t, req); status != 404 {
		t.Errorf("download with a wrong token: %d, want 404", status)
	}
	req, _ = http.NewRequest(http.MethodGet, tg.URL+"/file/bot"+testToken+"/photos/nope.jpg", nil)
	if status, _, _ := doReq(t, req); status != 404 {
		t.Errorf("download of an unknown path: %d, want 404", status)
	}

	status, a, _ = callJSON(t, tg, testToken, "getFile", map[string]any{"file_id": "nope"})
	wantError(t, status, a, 400, "Bad Request: invalid file_id")
	status, a, _ = callJSON(t, tg, testToken, "getFile", map[string]any{"file_id": "BQACAgIAAxkBAAIBZGZbig"})
	wantError(t, status, a, 400, "Bad Request: file is too big")

	// A download can fail once with a 5xx, then works.
	tg.FailNext("download", http.StatusBadGateway, "Bad Gateway")
	req, _ = http.NewRequest(http.MethodGet, tg.URL+"/file/bot"+testToken+"/"+f.FilePath, nil)
	if status, _, _ := doReq(t, req); status != 502 {
		t.Errorf("failed download: %d, want 502", status)
	}
	if status, body, _ := doReq(t, req.Clone(context.Background())); status != 200 || !bytes.Equal(body, data) {
		t.Errorf("download after the failure: %d", status)
	}
	if d := tg.Calls("download"); len(d) != 5 || d[3].Status != 502 || d[4].Params["file_path"] != path {
		t.Errorf("download calls: %+v", d)
	}
}

// webServer serves what Telegram would fetch for a photo sent by URL.
func webServer(t *testing.T, png []byte) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html>Access denied</html>")
	})
	mux.HandleFunc("/big.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(make([]byte, 6<<20))
	})
	mux.HandleFunc("/garbage.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = io.WriteString(w, "not a png")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTelegramSendPhotoByURL(t *testing.T) {
	tg := NewTelegram(t, testToken)
	png := PNG(1300, 900)
	web := webServer(t, png)

	status, a, _ := callJSON(t, tg, testToken, "sendPhoto", map[string]any{"chat_id": 5, "photo": web.URL + "/ok.png", "caption": "done"})
	if status != 200 {
		t.Fatalf("good URL: %d %s", status, a.Description)
	}
	var m struct {
		Caption string `json:"caption"`
		Photo   []struct {
			FileID string `json:"file_id"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"photo"`
	}
	if err := json.Unmarshal(a.Result, &m); err != nil || m.Caption != "done" || len(m.Photo) != 5 {
		t.Fatalf("message: %s", a.Result)
	}
	if last := m.Photo[len(m.Photo)-1]; last.Width != 1300 || last.Height != 900 || m.Photo[0].Width != 90 {
		t.Errorf("photo sizes: %+v", m.Photo)
	}
	if c := tg.Calls("sendPhoto")[0]; !bytes.Equal(c.Fetched["photo"], png) {
		t.Errorf("fetched %d bytes, want the %d served", len(c.Fetched["photo"]), len(png))
	}

	for _, tc := range []struct{ url, want string }{
		{web.URL + "/missing.png", "Bad Request: failed to get HTTP URL content"},
		{web.URL + "/page", "Bad Request: wrong type of the web page content"},
		{web.URL + "/big.png", "Bad Request: failed to get HTTP URL content"},
		{web.URL + "/garbage.png", "Bad Request: IMAGE_PROCESS_FAILED"},
		{"http://127.0.0.1:1/unreachable.png", "Bad Request: failed to get HTTP URL content"},
		{"AgACAgIAAxkBAAIBunknown", "Bad Request: wrong file identifier/HTTP URL specified"},
	} {
		status, a, _ := callJSON(t, tg, testToken, "sendPhoto", map[string]any{"chat_id": 5, "photo": tc.url})
		wantError(t, status, a, 400, tc.want)
	}

	// A document by URL must be PDF, ZIP or GIF.
	status, a, _ = callJSON(t, tg, testToken, "sendDocument", map[string]any{"chat_id": 5, "document": web.URL + "/ok.png"})
	wantError(t, status, a, 400, "Bad Request: wrong type of the web page content")

	// A file_id of a sent photo can be sent again.
	status, a, _ = callJSON(t, tg, testToken, "sendPhoto", map[string]any{"chat_id": 6, "photo": m.Photo[4].FileID})
	if status != 200 {
		t.Errorf("resend by file_id: %d %s", status, a.Description)
	}
}

func TestTelegramUploads(t *testing.T) {
	tg := NewTelegram(t, testToken)
	jpg := JPEG(800, 600)

	status, a := callMultipart(t, tg, "sendPhoto",
		part{name: "chat_id", value: "77"},
		part{name: "photo", filename: "result.jpg", value: string(jpg)},
		part{name: "reply_parameters", value: `{"message_id":12,"allow_sending_without_reply":true}`})
	if status != 200 {
		t.Fatalf("upload: %d %s", status, a.Description)
	}
	c := tg.WaitCalls(t, "sendPhoto", 1, time.Second)[0]
	if !bytes.Equal(c.Files["photo"], jpg) || c.Params["chat_id"] != "77" || !strings.Contains(c.Params["reply_parameters"], `"message_id":12`) {
		t.Errorf("recorded call: params %v, %d bytes", c.Params, len(c.Files["photo"]))
	}
	var m struct {
		Photo []struct {
			FileID string `json:"file_id"`
		} `json:"photo"`
	}
	_ = json.Unmarshal(a.Result, &m)
	if len(m.Photo) != 3 {
		t.Fatalf("photo sizes of an 800x600 photo: %s", a.Result)
	}
	// The sent photo can be downloaded back.
	_, g, _ := callJSON(t, tg, testToken, "getFile", map[string]any{"file_id": m.Photo[2].FileID})
	var f struct {
		FilePath string `json:"file_path"`
	}
	_ = json.Unmarshal(g.Result, &f)
	req, _ := http.NewRequest(http.MethodGet, tg.URL+"/file/bot"+testToken+"/"+f.FilePath, nil)
	if status, body, _ := doReq(t, req); status != 200 || !bytes.Equal(body, jpg) {
		t.Errorf("download of the sent photo: %d", status)
	}

	status, a = callMultipart(t, tg, "sendPhoto", part{name: "chat_id", value: "77"},
		part{name: "photo", filename: "x.jpg", value: "garbage"})
	wantError(t, status, a, 400, "Bad Request: IMAGE_PROCESS_FAILED")
	status, a = callMultipart(t, tg, "sendPhoto", part{name: "chat_id", value: "77"},
		part{name: "photo", filename: "x.png", value: string(PNG(1000, 30))})
	wantError(t, status, a, 400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
	status, a = callMultipart(t, tg, "sendPhoto", part{name: "chat_id", value: "77"},
		part{name: "photo", filename: "x.jpg", value: string(make([]byte, 11<<20))})
	wantError(t, status, a, 400, "Bad Request: file of size 11534336 bytes is too big for a photo; the maximum size is 10485760 bytes")
	status, a = callMultipart(t, tg, "sendPhoto", part{name: "chat_id", value: "77"})
	wantError(t, status, a, 400, "Bad Request: there is no photo in the request")

	// Documents: up to 50 MB, any content.
	status, a = callMultipart(t, tg, "sendDocument", part{name: "chat_id", value: "77"},
		part{name: "document", filename: "result.png", value: string(make([]byte, 12<<20))})
	if status != 200 || !strings.Contains(string(a.Result), `"mime_type":"image/png"`) || !strings.Contains(string(a.Result), `"file_name":"result.png"`) {
		t.Errorf("document upload: %d %s", status, a.Result)
	}

	// An album of uploads referenced by attach://.
	status, a = callMultipart(t, tg, "sendMediaGroup", part{name: "chat_id", value: "77"},
		part{name: "media", value: `[{"type":"photo","media":"attach://a","caption":"1"},{"type":"photo","media":"attach://b"}]`},
		part{name: "a", filename: "a", value: string(JPEG(100, 100))},
		part{name: "b", filename: "b", value: string(JPEG(120, 100))})
	var album []struct {
		MessageID    int    `json:"message_id"`
		MediaGroupID string `json:"media_group_id"`
		Caption      string `json:"caption"`
	}
	if err := json.Unmarshal(a.Result, &album); err != nil || status != 200 || len(album) != 2 ||
		album[0].MediaGroupID == "" || album[0].MediaGroupID != album[1].MediaGroupID || album[0].Caption != "1" ||
		album[1].MessageID != album[0].MessageID+1 {
		t.Errorf("album: %d %s %s", status, a.Description, a.Result)
	}
}

func TestTelegramMediaGroupErrors(t *testing.T) {
	tg := NewTelegram(t, testToken)
	web := webServer(t, PNG(100, 100))
	item := func(u string) map[string]string { return map[string]string{"type": "photo", "media": u} }
	good := item(web.URL + "/ok.png")
	for _, tc := range []struct {
		media []map[string]string
		want  string
	}{
		{nil, `Bad Request: parameter "media" is required`},
		{[]map[string]string{}, "Bad Request: there are no messages to send"},
		{[]map[string]string{good}, "Bad Request: wrong number of media items: an album must include 2-10 items"},
		{[]map[string]string{good, good, good, good, good, good, good, good, good, good, good}, "Bad Request: too many messages to send as an album"},
		{[]map[string]string{good, item(web.URL + "/missing.png")}, `Bad Request: failed to send message #2 with the error message "WEBPAGE_CURL_FAILED"`},
		{[]map[string]string{item(web.URL + "/page"), good}, `Bad Request: failed to send message #1 with the error message "WEBPAGE_MEDIA_EMPTY"`},
		{[]map[string]string{good, {"type": "document", "media": web.URL + "/ok.png"}}, "Bad Request: document can't be mixed with other media types"},
	} {
		params := map[string]any{"chat_id": 9}
		if tc.media != nil {
			params["media"] = tc.media
		}
		status, a, _ := callJSON(t, tg, testToken, "sendMediaGroup", params)
		wantError(t, status, a, 400, tc.want)
	}
	status, a, _ := callJSON(t, tg, testToken, "sendMediaGroup", map[string]any{"chat_id": 9, "media": []any{good, good}})
	if status != 200 {
		t.Fatalf("album by URL: %d %s", status, a.Description)
	}
	calls := tg.Calls("sendMediaGroup")
	if c := calls[len(calls)-1]; len(c.Fetched["media.0"]) == 0 || len(c.Fetched["media.1"]) == 0 {
		t.Errorf("fetched album items: %v", c.Fetched)
	}
}

func TestTelegramBlockedChat(t *testing.T) {
	tg := NewTelegram(t, testToken)
	tg.Block(1001)
	for _, method := range []string{"sendMessage", "sendPhoto", "sendChatAction"} {
		status, a, _ := callJSON(t, tg, testToken, method, map[string]any{"chat_id": 1001, "text": "hi",
			"photo": "AgACAgIAAxkBAAIB", "action": "upload_photo"})
		wantError(t, status, a, 403, "Forbidden: bot was blocked by the user")
	}
	if status, _, _ := callJSON(t, tg, testToken, "sendMessage", map[string]any{"chat_id": 1002, "text": "hi"}); status != 200 {
		t.Errorf("another chat: %d", status)
	}
	tg.Unblock(1001)
	if status, _, _ := callJSON(t, tg, testToken, "sendChatAction", map[string]any{"chat_id": 1001, "action": "upload_photo"}); status != 200 {
		t.Errorf("after Unblock: %d", status)
	}
	status, a, _ := callJSON(t, tg, testToken, "sendChatAction", map[string]any{"chat_id": 1001, "action": "dancing"})
	wantError(t, status, a, 400, "Bad Request: wrong parameter action in request")
}

func TestTelegramFaults(t *testing.T) {
	tg := NewTelegram(t, testToken)
	msg := map[string]any{"chat_id": 1, "text": "hi"}

	tg.FailNext("sendMessage", 500, "Internal Server Error")
	tg.FailNextRetryAfter("sendMessage", 7)
	status, _, body := callJSON(t, tg, testToken, "sendMessage", msg)
	if status != 500 || string(body) != `{"ok":false,"error_code":500,"description":"Internal Server Error"}` {
		t.Errorf("FailNext: %d %s", status, body)
	}
	status, _, body = callJSON(t, tg, testToken, "sendMessage", msg)
	if status != 429 || string(body) != `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}` {
		t.Errorf("FailNextRetryAfter: %d %s", status, body)
	}
	if status, _, _ := callJSON(t, tg, testToken, "sendMessage", msg); status != 200 {
		t.Errorf("after the queued faults: %d", status)
	}

	tg.FailAlways("sendChatAction", 502, "Bad Gateway")
	for i := 0; i < 2; i++ {
		status, a, _ := callJSON(t, tg, testToken, "sendChatAction", map[string]any{"chat_id": 1, "action": "typing"})
		wantError(t, status, a, 502, "Bad Gateway")
	}
	tg.ClearFaults()
	if status, _, _ := callJSON(t, tg, testToken, "sendChatAction", map[string]any{"chat_id": 1, "action": "typing"}); status != 200 {
		t.Errorf("after ClearFaults: %d", status)
	}

	// Delay ends when the client gives up, and the call has no effect.
	tg.Delay("sendMessage", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tg.URL+"/bot"+testToken+"/sendMessage?chat_id=1&text=slow", nil)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("a delayed call answered before the client gave up")
	}
	calls := tg.WaitCalls(t, "sendMessage", 4, 2*time.Second)
	if time.Since(start) > 2*time.Second || calls[3].Status != 0 || calls[3].Result != nil {
		t.Errorf("delayed call: %+v after %v", calls[3], time.Since(start))
	}
}

func TestTelegramGetUpdates(t *testing.T) {
	tg := NewTelegram(t, testToken)
	id1 := tg.PushUpdate(map[string]any{"message": map[string]any{"message_id": 1, "text": "a"}})
	id2 := tg.PushUpdate([]byte(`{"update_id":0,"message":{"message_id":2,"text":"b"}}`))
	id3 := tg.PushUpdate(map[string]any{"update_id": id2 + 10, "callback_query": map[string]any{"id": "1"}})
	if id2 != id1+1 || id3 != id2+10 {
		t.Fatalf("update ids %d %d %d", id1, id2, id3)
	}
	updates := func(a tgAnswerJSON) []int64 {
		var us []struct {
			UpdateID int64 `json:"update_id"`
		}
		if err := json.Unmarshal(a.Result, &us); err != nil {
			t.Fatalf("result %s: %v", a.Result, err)
		}
		var ids []int64
		for _, u := range us {
			ids = append(ids, u.UpdateID)
		}
		return ids
	}
	_, a, _ := callJSON(t, tg, testToken, "getUpdates", map[string]any{})
	if got := updates(a); fmt.Sprint(got) != fmt.Sprint([]int64{id1, id2, id3}) {
		t.Errorf("getUpdates: %v", got)
	}
	_, a, _ = callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": id2, "limit": 1})
	if got := updates(a); fmt.Sprint(got) != fmt.Sprint([]int64{id2}) {
		t.Errorf("offset %d limit 1: %v", id2, got)
	}
	// id1 is confirmed now, so pending is 2.
	_, a, _ = callJSON(t, tg, testToken, "getWebhookInfo", nil)
	if !strings.Contains(string(a.Result), `"pending_update_count":2`) {
		t.Errorf("getWebhookInfo: %s", a.Result)
	}
	_, a, _ = callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": id3 + 1})
	if got := updates(a); len(got) != 0 || string(a.Result) != "[]" {
		t.Errorf("after confirming all: %s", a.Result)
	}

	// Long poll: returns as soon as an update is pushed.
	go func() {
		time.Sleep(100 * time.Millisecond)
		tg.PushUpdate(map[string]any{"message": map[string]any{"message_id": 4}})
	}()
	start := time.Now()
	_, a, _ = callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": id3 + 1, "timeout": 10})
	if got := updates(a); len(got) != 1 || got[0] != id3+1 || time.Since(start) > 5*time.Second {
		t.Errorf("long poll: %v after %v", got, time.Since(start))
	}
	// ... and waits out its timeout when nothing comes.
	start = time.Now()
	_, a, _ = callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": id3 + 2, "timeout": 1})
	if got := updates(a); len(got) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("empty long poll: %v after %v", got, time.Since(start))
	}

	// A second poller ends the first with a conflict.
	var wg sync.WaitGroup
	var first tgAnswerJSON
	var firstStatus int
	wg.Add(1)
	go func() {
		defer wg.Done()
		firstStatus, first, _ = callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": id3 + 2, "timeout": 10})
	}()
	for waiting := false; !waiting; time.Sleep(5 * time.Millisecond) { // let the first poller start waiting
		tg.mu.Lock()
		waiting = tg.poller != nil
		tg.mu.Unlock()
	}
	if status, _, _ := callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": id3 + 2}); status != 200 {
		t.Errorf("second poller: %d", status)
	}
	wg.Wait()
	wantError(t, firstStatus, first, 409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
}

func TestTelegramWebhook(t *testing.T) {
	tg := NewTelegram(t, testToken)
	var got struct {
		sync.Mutex
		secret string
		body   []byte
	}
	bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		defer got.Unlock()
		got.secret = r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
		got.body, _ = io.ReadAll(r.Body)
		if strings.Contains(string(got.body), "fail") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"method":"sendMessage","chat_id":55,"text":"got it"}`)
	}))
	defer bot.Close()

	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"url": "http://example.com/hook"}, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"},
		{map[string]any{"url": "https://example.com:8080/hook"}, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"},
		{map[string]any{"url": "https://example.com/hook", "secret_token": "bad secret!"}, "Bad Request: secret token contains unallowed characters"},
		{map[string]any{"url": "https://example.com/hook", "secret_token": strings.Repeat("a", 257)}, "Bad Request: secret token contains unallowed characters"},
	} {
		status, a, _ := callJSON(t, tg, testToken, "setWebhook", tc.params)
		wantError(t, status, a, 400, tc.want)
	}

	status, _, body := callJSON(t, tg, testToken, "setWebhook", map[string]any{"url": bot.URL + "/tg", "secret_token": "s3cr3t_-X",
		"allowed_updates": []string{"message", "callback_query"}, "max_connections": 10})
	if status != 200 || string(body) != `{"ok":true,"result":true,"description":"Webhook was set"}` {
		t.Fatalf("setWebhook: %d %s", status, body)
	}
	if wh := tg.Webhook(); wh.URL != bot.URL+"/tg" || wh.SecretToken != "s3cr3t_-X" || wh.MaxConnections != 10 || len(wh.AllowedUpdates) != 2 {
		t.Errorf("Webhook() = %+v", wh)
	}
	status, a, _ := callJSON(t, tg, testToken, "getUpdates", nil)
	wantError(t, status, a, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")

	tg.PushUpdate(map[string]any{"message": map[string]any{"message_id": 1}})
	tg.SetWebhookInfo(-1, "Wrong response from the webhook: 502 Bad Gateway", time.Unix(1700000000, 0))
	_, a, _ = callJSON(t, tg, testToken, "getWebhookInfo", nil)
	var info map[string]any
	_ = json.Unmarshal(a.Result, &info)
	if info["url"] != bot.URL+"/tg" || info["pending_update_count"] != 1.0 || info["has_custom_certificate"] != false ||
		info["last_error_date"] != 1700000000.0 || info["last_error_message"] != "Wrong response from the webhook: 502 Bad Gateway" ||
		info["max_connections"] != 10.0 {
		t.Errorf("getWebhookInfo: %s", a.Result)
	}
	tg.SetWebhookInfo(0, "", time.Time{})

	// DeliverUpdate posts like Telegram and runs the webhook reply.
	if status, err := tg.DeliverUpdate(map[string]any{"message": map[string]any{"message_id": 2, "text": "hi"}}); err != nil || status != 200 {
		t.Fatalf("DeliverUpdate: %d %v", status, err)
	}
	got.Lock()
	if got.secret != "s3cr3t_-X" || !strings.Contains(string(got.body), `"update_id":`) {
		t.Errorf("webhook request: secret %q body %s", got.secret, got.body)
	}
	got.Unlock()
	if c := tg.WaitCalls(t, "sendMessage", 1, time.Second)[0]; c.Params["chat_id"] != "55" || c.Header.Get("X-Fake-Webhook-Reply") != "1" {
		t.Errorf("webhook reply call: %+v", c)
	}
	if status, _ := tg.DeliverUpdate(`{"message":{"text":"fail"}}`); status != 500 {
		t.Errorf("failing webhook: %d", status)
	}
	_, a, _ = callJSON(t, tg, testToken, "getWebhookInfo", nil)
	if !strings.Contains(string(a.Result), `"last_error_message":"Wrong response from the webhook: 500 Internal Server Error"`) {
		t.Errorf("last error after a 500: %s", a.Result)
	}

	_, _, body = callJSON(t, tg, testToken, "deleteWebhook", nil)
	if string(body) != `{"ok":true,"result":true,"description":"Webhook was deleted"}` {
		t.Errorf("deleteWebhook: %s", body)
	}
	if status, _, _ := callJSON(t, tg, testToken, "getUpdates", nil); status != 200 {
		t.Errorf("getUpdates after deleteWebhook: %d", status)
	}
}

func TestTelegramCommands(t *testing.T) {
	tg := NewTelegram(t, testToken)
	cmds := []BotCommand{{"start", "Start"}, {"help", "Помощь"}}
	if status, a, _ := callJSON(t, tg, testToken, "setMyCommands", map[string]any{"commands": cmds}); status != 200 {
		t.Fatalf("setMyCommands: %d %s", status, a.Description)
	}
	if status, _, _ := callJSON(t, tg, testToken, "setMyCommands", map[string]any{"commands": cmds[:1], "language_code": "ru"}); status != 200 {
		t.Fatal("setMyCommands ru")
	}
	if got := tg.Commands(); len(got) != 2 || got[1] != cmds[1] {
		t.Errorf("Commands() = %v", got)
	}
	if got := tg.CommandsFor("default", "ru"); len(got) != 1 {
		t.Errorf("CommandsFor(ru) = %v", got)
	}
	_, a, _ := callJSON(t, tg, testToken, "getMyCommands", nil)
	if string(a.Result) != `[{"command":"start","description":"Start"},{"command":"help","description":"Помощь"}]` {
		t.Errorf("getMyCommands: %s", a.Result)
	}
	status, a, _ := callJSON(t, tg, testToken, "setMyCommands", map[string]any{"commands": []BotCommand{{"Start", "x"}}})
	wantError(t, status, a, 400, "Bad Request: BOT_COMMAND_INVALID")
}
