package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Size limits of the public Bot API (api.telegram.org), in binary megabytes
// as TDLib and the Bot API server count them.
const (
	tgMaxDownload    = 20 << 20 // getFile refuses larger files
	tgMaxPhotoUpload = 10 << 20 // multipart photo
	tgMaxUpload      = 50 << 20 // any multipart file
	tgMaxPhotoURL    = 5 << 20  // photo sent by URL
	tgMaxFileURL     = 20 << 20 // other file sent by URL
)

// Call is one request the fake Telegram received.
type Call struct {
	// Method is the Bot API method in its documented spelling
	// ("sendPhoto"), whatever case the client used; "download" for a file
	// download (Params["file_path"] holds the path).
	Method string
	// Params holds the request's parameters from the query, a form, a
	// multipart form or a JSON body. JSON values that are not strings
	// (objects, arrays, numbers) are kept as their JSON text, as a
	// multipart client sends them.
	Params map[string]string
	// Files holds the uploaded multipart files by part name: "photo",
	// "document", or the name an "attach://name" points at.
	Files map[string][]byte
	// Fetched holds the bytes the fake downloaded for files sent by URL:
	// under "photo" or "document", and under "media.<i>" (0-based) for the
	// items of sendMediaGroup. A URL that could not be fetched leaves no
	// entry.
	Fetched map[string][]byte
	// Header is the request's header.
	Header http.Header
	// At is when the request arrived.
	At time.Time
	// Status is the HTTP status answered; 0 when the client went away
	// during a Delay before an answer was made.
	Status int
	// Error is the description of a failed call ("" on success).
	Error string
	// Result is the JSON "result" of a successful call.
	Result json.RawMessage
}

// WebhookConfig is what setWebhook stored.
type WebhookConfig struct {
	URL                string
	SecretToken        string
	AllowedUpdates     []string
	MaxConnections     int
	IPAddress          string
	DropPendingUpdates bool
	HasCertificate     bool
	SetAt              time.Time
}

// BotCommand is one entry of the command menu set with setMyCommands.
type BotCommand struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// Telegram is a fake Telegram Bot API server.
//
// It serves POST and GET <URL>/bot<token>/<method> with parameters in the
// query, application/x-www-form-urlencoded, multipart/form-data or a JSON
// body, method names case-insensitively, and file downloads at
// <URL>/file/bot<token>/<file_path>.
//
// Choices where the real API could not be copied exactly:
//   - Chats: any integer chat_id is a chat (positive: private, -100...:
//     supergroup, other negative: group); "@username" is "chat not found".
//     Block and SetChatError make a chat refuse sends.
//   - Photos, uploaded or fetched, must be real images (JPEG, PNG, GIF or
//     WebP headers are read): otherwise "Bad Request: IMAGE_PROCESS_FAILED",
//     and width+height > 10000 or a side ratio > 20 is "Bad Request:
//     PHOTO_INVALID_DIMENSIONS". Set LaxImages to accept any bytes. Use PNG
//     and JPEG to make valid images.
//   - An uploaded photo over 10 MB answers "Bad Request: file of size N
//     bytes is too big for a photo; the maximum size is 10485760 bytes"
//     (TDLib's wording); any uploaded file over 50 MB answers 413 "Request
//     Entity Too Large", as api.telegram.org does; an empty one "Bad
//     Request: file must be non-empty".
//   - Documents sent by URL must be served as application/pdf,
//     application/zip or image/gif (the Bot API docs: "sending by URL will
//     currently only work for GIF, PDF and ZIP files"), at most 20 MB.
//   - sendMediaGroup with 0 items answers "Bad Request: there are no
//     messages to send" and with more than 10 "Bad Request: too many
//     messages to send as an album" (the server's words). With 1 item the
//     real server sends a plain message; the fake follows the documented
//     2-10 rule instead and answers "Bad Request: wrong number of media
//     items: an album must include 2-10 items" (its own words). A URL,
//     file_id or image failure of item N answers, as the real server does,
//     `Bad Request: failed to send message #N with the error message
//     "WEBPAGE_CURL_FAILED"` (or WEBPAGE_MEDIA_EMPTY, IMAGE_PROCESS_FAILED,
//     PHOTO_INVALID_DIMENSIONS, "Wrong file identifier/HTTP URL specified").
//   - parse_mode is not modelled (photobot sends plain text): a request
//     carrying one fails the test (tb.Errorf "the fake does not model
//     parse_mode") and answers 400. Length limits (4096 text, 1024
//     caption) count UTF-16 units.
//   - Uploaded documents get the mime_type TDLib derives from the file
//     name's extension (a small table: png, jpg, jpeg, webp, gif, tif,
//     tiff, pdf, zip; anything else application/octet-stream); the part's
//     Content-Type is recorded (MessageFile.UploadType) but, as on the
//     real server, not used.
//   - Sent photos are not recompressed: every PhotoSize of a sent photo
//     downloads the bytes that were sent.
//   - setWebhook accepts http:// only for loopback hosts (127.0.0.1,
//     localhost, ::1), on any port, so that tests can point it at an
//     httptest server; other URLs must be https on port 443, 80, 88 or
//     8443 as on the real server.
//   - A button with empty text is dropped, as TDLib drops it (ReplyMarkup.cpp
//     skips buttons without text); a keyboard left without buttons is no
//     keyboard.
//   - Only callback_data buttons are modelled: a url, web_app,
//     switch_inline_query, ... button, and reply keyboards (keyboard,
//     remove_keyboard, force_reply) fail the test ("the fake does not
//     model ...") and answer 400.
//   - The store knows the messages the bot sent and the users' messages
//     registered with AddUserMessage (PushUpdate and DeliverUpdate register
//     the "message" of their updates). A reply to an unknown message id is
//     kept as a reply, since the fake cannot tell it from one it was not
//     told about; a reply to a deleted one (DeleteMessage) follows
//     allow_sending_without_reply as on the real server.
//   - How long a callback query can be answered is not documented (public
//     reports speak of some seconds; an answer 20 s late failed):
//     CallbackQueryTimeout (15 s) counts from Press. A query answered once
//     cannot be answered again (Telegram answers QUERY_ID_INVALID).
//   - Press sends the message as an InaccessibleMessage (date 0) once it is
//     older than InaccessibleAfter (48 h; AgeMessage makes it older), as the
//     Bot API docs say its content is not available when it is too old.
//   - edit_date is set by both edit methods (MTProto's edit_hide flag,
//     which lets clients hide it for markup-only edits, is not modelled).
type Telegram struct {
	// URL is the server's base, for TELEGRAM_API_URL (http://127.0.0.1:port).
	URL string
	// Token is the bot token the fake accepts.
	Token string
	// BotID and BotUsername describe the bot in getMe and in the "from"
	// of sent messages. BotID is the number before ':' in Token.
	BotID       int64
	BotUsername string
	// FetchTimeout bounds the download of a file sent by URL (default 10 s).
	FetchTimeout time.Duration
	// WebhookTimeout bounds DeliverUpdate's wait for the bot (default 30 s).
	WebhookTimeout time.Duration
	// LaxImages turns off the image checks of photos.
	LaxImages bool
	// CallbackQueryTimeout is how long after Press answerCallbackQuery
	// still works (default 15 s).
	CallbackQueryTimeout time.Duration
	// InaccessibleAfter is the age past which a pressed message reaches the
	// bot as an InaccessibleMessage (date 0); default 48 h. See AgeMessage.
	InaccessibleAfter time.Duration
	// PreCheckoutTimeout is how long after PreCheckout the bot may answer
	// the pre_checkout_query (default 10 s, as Telegram says).
	PreCheckoutTimeout time.Duration

	tb             TB
	srv            *httptest.Server
	done           chan struct{}
	faults         faults
	callsChanged   broadcast
	updatesChanged broadcast

	mu              sync.Mutex
	calls           []Call
	files           map[string]*tgFile // by file_id
	paths           map[string]*tgFile // by file_path
	fileSeq         int
	messageSeq      int
	chatErrs        map[int64]fault
	webhook         WebhookConfig
	pendingOverride int // <0: count the queued updates
	lastErrMsg      string
	lastErrDate     time.Time
	updates         []tgUpdate
	nextUpdateID    int64
	allowedUpdates  []string
	poller          chan struct{}
	commands        map[string][]BotCommand
	chats           map[int64]map[int]*tgStored // the message store, by chat and message id
	presses         map[string]*ButtonPress     // by callback query id
	pressOrder      []string
	pay             tgPayments // see telegram_payments.go
}

type tgFile struct {
	id, uniqueID, path string
	data               []byte
	size               int64
}

type tgUpdate struct {
	id   int64
	kind string
	raw  json.RawMessage
}

// NewTelegram starts a fake Bot API server for token; it is closed when
// the test ends.
func NewTelegram(tb TB, token string) *Telegram {
	tb.Helper()
	t := &Telegram{
		Token:                token,
		BotUsername:          "photobot_test_bot",
		BotID:                1234567890,
		FetchTimeout:         10 * time.Second,
		WebhookTimeout:       30 * time.Second,
		CallbackQueryTimeout: 15 * time.Second,
		InaccessibleAfter:    48 * time.Hour,
		PreCheckoutTimeout:   10 * time.Second,
		tb:                   tb,
		done:                 make(chan struct{}),
		files:                map[string]*tgFile{},
		paths:                map[string]*tgFile{},
		chatErrs:             map[int64]fault{},
		pendingOverride:      -1,
		nextUpdateID:         700000001,
		commands:             map[string][]BotCommand{},
		chats:                map[int64]map[int]*tgStored{},
		presses:              map[string]*ButtonPress{},
	}
	if id, err := strconv.ParseInt(strings.SplitN(token, ":", 2)[0], 10, 64); err == nil && id > 0 {
		t.BotID = id
	}
	t.srv = httptest.NewServer(http.HandlerFunc(t.serve))
	t.URL = t.srv.URL
	tb.Cleanup(func() {
		close(t.done)
		t.srv.Close()
	})
	return t
}

// ---- test-side API ----

// AddFile registers a file the bot may getFile and download, and returns
// its file_path ("photos/file_N.jpg").
func (t *Telegram) AddFile(fileID string, data []byte) (filePath string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := &tgFile{id: fileID, uniqueID: uniqueIDFor(fileID), data: data, size: int64(len(data)),
		path: fmt.Sprintf("photos/file_%d.jpg", t.fileSeq)}
	t.fileSeq++
	t.addFileLocked(f)
	return f.path
}

// AddBigFile registers a file of size bytes whose content the bot cannot
// download: getFile answers "Bad Request: file is too big" when size is over
// 20 MB. It can still be sent again by file_id.
func (t *Telegram) AddBigFile(fileID string, size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addFileLocked(&tgFile{id: fileID, uniqueID: uniqueIDFor(fileID), size: size})
}

func (t *Telegram) addFileLocked(f *tgFile) {
	if old := t.files[f.id]; old != nil && old.path != "" {
		delete(t.paths, old.path)
	}
	t.files[f.id] = f
	if f.path != "" {
		t.paths[f.path] = f
	}
}

// uniqueIDFor derives a stable file_unique_id ("AQAD...") from a file_id.
func uniqueIDFor(fileID string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(fileID); i++ {
		h ^= uint64(fileID[i])
		h *= 1099511628211
	}
	b := make([]byte, 12)
	for i := range b {
		b[i] = base64URL[h%64]
		h /= 64
		if h == 0 {
			h = 0x9e3779b97f4a7c15
		}
	}
	return "AQAD" + string(b)
}

// Block makes every send to chatID (sendMessage, sendPhoto, sendDocument,
// sendMediaGroup, sendChatAction) answer 403 "Forbidden: bot was blocked
// by the user".
func (t *Telegram) Block(chatID int64) {
	t.SetChatError(chatID, http.StatusForbidden, "Forbidden: bot was blocked by the user")
}

// Unblock undoes Block and SetChatError.
func (t *Telegram) Unblock(chatID int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.chatErrs, chatID)
}

// SetChatError makes every send to chatID fail with status and
// description, e.g. 403 "Forbidden: user is deactivated" or 400 "Bad
// Request: chat not found".
func (t *Telegram) SetChatError(chatID int64, status int, description string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.chatErrs[chatID] = fault{status: status, text: description}
}

// FailNext makes the next call of method (or "download") fail with status
// and description, e.g. 500 "Internal Server Error" or 400 "Bad Request:
// ...". Calls queue: two FailNext fail the next two calls. A 429 gets
// parameters.retry_after 1; use FailNextRetryAfter to choose it.
func (t *Telegram) FailNext(method string, status int, description string) {
	ra := 0
	if status == http.StatusTooManyRequests {
		ra = 1
	}
	t.faults.push(method, fault{status: status, text: description, retryAfter: ra})
}

// FailNextRetryAfter makes the next call of method answer 429 "Too Many
// Requests: retry after N" with parameters.retry_after N, as flood control
// does.
func (t *Telegram) FailNextRetryAfter(method string, seconds int) {
	t.faults.push(method, fault{status: http.StatusTooManyRequests,
		text: fmt.Sprintf("Too Many Requests: retry after %d", seconds), retryAfter: seconds})
}

// FailAlways makes every call of method fail until ClearFaults. Queued
// FailNext faults are answered first.
func (t *Telegram) FailAlways(method string, status int, description string) {
	ra := 0
	if status == http.StatusTooManyRequests {
		ra = 1
	}
	t.faults.setAlways(method, fault{status: status, text: description, retryAfter: ra})
}

// ClearFaults removes every FailNext, FailAlways, Delay and DelayAfter.
func (t *Telegram) ClearFaults() { t.faults.clear() }

// Delay stalls every call of method (or "download") for d before it is
// handled; a client that gives up first ends the stall, and the call then
// has no effect (it is recorded with Status 0). d <= 0 removes the delay.
func (t *Telegram) Delay(method string, d time.Duration) { t.faults.setDelay(method, d, false) }

// DelayAfter stalls every call of method for d after it was handled and
// before the answer: the message is sent even if the client gives up, as
// when a real answer is lost on the way back.
func (t *Telegram) DelayAfter(method string, d time.Duration) { t.faults.setDelay(method, d, true) }

// Calls returns the recorded calls of method (case-insensitive), or all
// calls when method is "", in the order they were answered.
func (t *Telegram) Calls(method string) []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Call
	for _, c := range t.calls {
		if method == "" || strings.EqualFold(c.Method, method) {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls of method ("" for any) were
// answered and returns them; on timeout it fails the test, listing every
// call received.
func (t *Telegram) WaitCalls(tb testing.TB, method string, n int, timeout time.Duration) []Call {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := t.callsChanged.wait()
		if c := t.Calls(method); len(c) >= n {
			return c
		}
		select {
		case <-changed:
		case <-deadline.C:
			got := t.Calls(method)
			tb.Fatalf("fake telegram: waited %v for %d %q calls, got %d; calls received:\n%s",
				timeout, n, method, len(got), summarizeCalls(t.Calls("")))
			return got
		}
	}
}

func summarizeCalls(calls []Call) string {
	if len(calls) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "  %s %s %d", c.At.Format("15:04:05.000"), c.Method, c.Status)
		if c.Error != "" {
			fmt.Fprintf(&b, " %q", c.Error)
		}
		keys := make([]string, 0, len(c.Params))
		for k := range c.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := c.Params[k]
			if len(v) > 60 {
				v = v[:60] + "..."
			}
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
		for k, v := range c.Files {
			fmt.Fprintf(&b, " file:%s(%d bytes)", k, len(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Webhook returns the webhook that setWebhook stored (URL "" when none).
func (t *Telegram) Webhook() WebhookConfig {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.webhook
	w.AllowedUpdates = append([]string(nil), w.AllowedUpdates...)
	return w
}

// SetWebhookInfo sets what getWebhookInfo reports: pendingUpdateCount
// (a negative value counts the updates queued with PushUpdate, the
// default) and the last delivery error with its date ("" clears it).
func (t *Telegram) SetWebhookInfo(pendingUpdateCount int, lastErrorMessage string, lastErrorDate time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pendingOverride = pendingUpdateCount
	t.lastErrMsg, t.lastErrDate = lastErrorMessage, lastErrorDate
}

// Commands returns the commands set for the default scope and language.
func (t *Telegram) Commands() []BotCommand { return t.CommandsFor("default", "") }

// CommandsFor returns the commands set for a scope type ("default",
// "all_private_chats", ...) and language code ("" for all languages).
func (t *Telegram) CommandsFor(scopeType, languageCode string) []BotCommand {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]BotCommand(nil), t.commands[scopeType+"|"+languageCode]...)
}

// PushUpdate queues an update for getUpdates (it also counts in
// getWebhookInfo's pending_update_count). update is anything that
// marshals to a JSON object, or the JSON itself ([]byte, json.RawMessage,
// string), such as a golden file. A missing or zero update_id is assigned
// from the fake's sequence; the update_id is returned. The update's
// "message", if any, is put in the message store (see AddUserMessage).
func (t *Telegram) PushUpdate(update any) int64 {
	obj, err := jsonObject(update)
	if err != nil {
		panic("fake telegram: PushUpdate: " + err.Error())
	}
	t.mu.Lock()
	u := t.prepareUpdateLocked(obj)
	t.updates = append(t.updates, u)
	t.mu.Unlock()
	t.updatesChanged.signal()
	return u.id
}

func (t *Telegram) prepareUpdateLocked(obj map[string]json.RawMessage) tgUpdate {
	var id int64
	if raw, ok := obj["update_id"]; ok {
		_ = json.Unmarshal(raw, &id)
	}
	if id == 0 {
		id = t.nextUpdateID
	}
	if id >= t.nextUpdateID {
		t.nextUpdateID = id + 1
	}
	obj["update_id"] = json.RawMessage(strconv.FormatInt(id, 10))
	if m, ok := obj["message"]; ok {
		t.addUserMessageLocked(m)
	}
	raw, _ := json.Marshal(obj)
	kind := ""
	for _, k := range updateKinds {
		if _, ok := obj[k]; ok {
			kind = k
			break
		}
	}
	return tgUpdate{id: id, kind: kind, raw: raw}
}

var updateKinds = []string{"message", "edited_message", "channel_post", "edited_channel_post",
	"business_connection", "business_message", "edited_business_message", "deleted_business_messages",
	"message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
	"callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
	"poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost"}

// jsonObject turns v (raw JSON or a value) into a JSON object.
func jsonObject(v any) (map[string]json.RawMessage, error) {
	var raw []byte
	switch x := v.(type) {
	case []byte:
		raw = x
	case json.RawMessage:
		raw = x
	case string:
		raw = []byte(x)
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, errors.New("not a JSON object: null")
	}
	return obj, nil
}

// DeliverUpdate posts update to the webhook set with setWebhook, as
// Telegram does (JSON body, X-Telegram-Bot-Api-Secret-Token header when a
// secret is set), and returns the bot's HTTP status. A missing update_id is
// assigned; the update's "message" is put in the message store. An update
// of a kind that allowed_updates (of setWebhook or getUpdates) leaves out
// is not posted, as Telegram drops it: DeliverUpdate returns an error. A
// non-2xx answer or a failure is kept as getWebhookInfo's last
// error ("Wrong response from the webhook: 500 Internal Server Error",
// "Connection refused", "Read timeout expired"). A 2xx JSON answer carrying
// {"method": ...} is executed as a Bot API call, as Telegram executes
// webhook replies (methods starting with "get" are ignored); that call is
// recorded with the header X-Fake-Webhook-Reply: 1. DeliverUpdate does not
// retry.
func (t *Telegram) DeliverUpdate(update any) (int, error) {
	obj, err := jsonObject(update)
	if err != nil {
		return 0, fmt.Errorf("fake telegram: DeliverUpdate: %w", err)
	}
	t.mu.Lock()
	wh := t.webhook
	u := t.prepareUpdateLocked(obj)
	timeout := t.WebhookTimeout
	allowed := t.allowedUpdates
	t.mu.Unlock()
	if wh.URL == "" {
		return 0, errors.New("fake telegram: DeliverUpdate: no webhook is set")
	}
	if !updateAllowed(u.kind, allowed) {
		return 0, fmt.Errorf("fake telegram: DeliverUpdate: a %s update is not in allowed_updates %q", u.kind, allowed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-t.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(u.raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if wh.SecretToken != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", wh.SecretToken)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		msg := "Connection refused"
		if ctx.Err() != nil {
			msg = "Read timeout expired"
		}
		t.setLastError(msg)
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.setLastError("Wrong response from the webhook: " + resp.Status)
		return resp.StatusCode, nil
	}
	t.webhookReply(body)
	return resp.StatusCode, nil
}

func (t *Telegram) setLastError(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErrMsg, t.lastErrDate = msg, time.Now()
}

func (t *Telegram) webhookReply(body []byte) {
	var m struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(body, &m) != nil || m.Method == "" || strings.HasPrefix(strings.ToLower(m.Method), "get") {
		return
	}
	req := httptest.NewRequest(http.MethodPost, "/bot"+t.Token+"/"+url.PathEscape(m.Method), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fake-Webhook-Reply", "1")
	t.serve(httptest.NewRecorder(), req)
}

// ---- HTTP side ----

// tgAnswer is a Bot API answer.
type tgAnswer struct {
	status     int // 200 for ok
	result     any
	desc       string // error description, or the optional description of an ok answer
	retryAfter int
	tdCode     string // TDLib's error for a per-item failure of sendMediaGroup
}

func tgOK(result any) tgAnswer { return tgAnswer{status: http.StatusOK, result: result} }

func tgFail(status int, desc string) tgAnswer { return tgAnswer{status: status, desc: desc} }

func tgBad(desc string) tgAnswer { return tgFail(http.StatusBadRequest, "Bad Request: "+desc) }

func (a tgAnswer) failed() bool { return a.status != http.StatusOK }

func (a tgAnswer) body() []byte {
	var v any
	if !a.failed() {
		v = struct {
			OK          bool   `json:"ok"`
			Result      any    `json:"result"`
			Description string `json:"description,omitempty"`
		}{true, a.result, a.desc}
	} else {
		type params struct {
			RetryAfter int `json:"retry_after,omitempty"`
		}
		e := struct {
			OK          bool    `json:"ok"`
			ErrorCode   int     `json:"error_code"`
			Description string  `json:"description"`
			Parameters  *params `json:"parameters,omitempty"`
		}{false, a.status, a.desc, nil}
		if a.retryAfter > 0 {
			e.Parameters = &params{a.retryAfter}
		}
		v = e
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func writeTG(w http.ResponseWriter, a tgAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body())
}

type tgRequest struct {
	ctx       context.Context
	params    map[string]string
	files     map[string][]byte
	fileNames map[string]string // multipart file name, by part name
	fileTypes map[string]string // multipart Content-Type, by part name
	call      *Call
}

type tgMethod struct {
	name    string
	handler func(*Telegram, *tgRequest) tgAnswer
}

var tgMethods = map[string]tgMethod{}

func init() {
	for _, m := range []tgMethod{
		{"getMe", (*Telegram).getMe},
		{"getFile", (*Telegram).getFile},
		{"sendMessage", (*Telegram).sendMessage},
		{"sendPhoto", (*Telegram).sendPhoto},
		{"sendDocument", (*Telegram).sendDocument},
		{"sendMediaGroup", (*Telegram).sendMediaGroup},
		{"sendChatAction", (*Telegram).sendChatAction},
		{"editMessageText", (*Telegram).editMessageText},
		{"editMessageReplyMarkup", (*Telegram).editMessageReplyMarkup},
		{"answerCallbackQuery", (*Telegram).answerCallbackQuery},
		{"setWebhook", (*Telegram).setWebhook},
		{"deleteWebhook", (*Telegram).deleteWebhook},
		{"getWebhookInfo", (*Telegram).getWebhookInfo},
		{"getUpdates", (*Telegram).getUpdates},
		{"setMyCommands", (*Telegram).setMyCommands},
		{"getMyCommands", (*Telegram).getMyCommands},
		{"deleteMyCommands", (*Telegram).deleteMyCommands},
	} {
		tgMethods[strings.ToLower(m.name)] = m
	}
}

func (t *Telegram) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/file/bot"):
		t.serveFile(w, r)
	case strings.HasPrefix(r.URL.Path, "/bot"):
		t.serveMethod(w, r)
	default:
		writeTG(w, tgFail(http.StatusNotFound, "Not Found"))
	}
}

func (t *Telegram) record(c Call) {
	t.mu.Lock()
	t.calls = append(t.calls, c)
	t.mu.Unlock()
	t.callsChanged.signal()
}

func (t *Telegram) serveMethod(w http.ResponseWriter, r *http.Request) {
	call := Call{Header: r.Header.Clone(), At: time.Now(), Params: map[string]string{},
		Files: map[string][]byte{}, Fetched: map[string][]byte{}}
	token, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
	m, known := tgMethods[strings.ToLower(method)]
	call.Method = method
	if known {
		call.Method = m.name
	}
	answer := func(a tgAnswer) {
		call.Status = a.status
		if a.failed() {
			call.Error = a.desc
		} else if b, err := json.Marshal(a.result); err == nil {
			call.Result = b
		}
		writeTG(w, a)
		t.record(call)
	}
	if token != t.Token {
		answer(tgFail(http.StatusUnauthorized, "Unauthorized"))
		return
	}
	if !known {
		answer(tgFail(http.StatusNotFound, "Not Found"))
		return
	}
	q := &tgRequest{ctx: r.Context(), params: call.Params, files: call.Files, fileNames: map[string]string{},
		fileTypes: map[string]string{}, call: &call}
	if a, ok := parseTGParams(r, q); !ok {
		answer(a)
		return
	}
	if d := t.faults.delayOf(m.name, false); d > 0 && !sleep(r.Context(), t.done, d) {
		call.Error = "client went away during Delay"
		t.record(call)
		return
	}
	var a tgAnswer
	if ft, ok := t.faults.take(m.name); ok {
		a = tgFail(ft.status, ft.text)
		a.retryAfter = ft.retryAfter
	} else {
		a = m.handler(t, q)
	}
	if d := t.faults.delayOf(m.name, true); d > 0 {
		sleep(r.Context(), t.done, d)
	}
	answer(a)
}

// parseTGParams reads the query and the body into q.
func parseTGParams(r *http.Request, q *tgRequest) (tgAnswer, bool) {
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			q.params[k] = v[0]
		}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, tgMaxUpload))
		if err != nil {
			return tgBad("can't read request body"), false
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return tgAnswer{}, true
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return tgBad("can't parse JSON object"), false
		}
		for k, raw := range obj {
			if v, ok := jsonParam(raw); ok {
				q.params[k] = v
			}
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return tgBad("can't parse request body"), false
		}
		for k, v := range r.PostForm {
			if len(v) > 0 {
				q.params[k] = v[0]
			}
		}
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return tgBad("can't parse multipart/form-data request"), false
		}
		for n := 0; ; n++ {
			p, err := mr.NextPart()
			// An empty body is no parameters: go-telegram/bot sends one for
			// methods without parameters, and the Bot API accepts it.
			if err == io.EOF || (n == 0 && errors.Is(err, io.EOF)) {
				break
			}
			if err != nil {
				return tgBad("can't parse multipart/form-data request"), false
			}
			data, err := io.ReadAll(io.LimitReader(p, tgMaxUpload+1))
			if err != nil {
				return tgBad("can't parse multipart/form-data request"), false
			}
			if len(data) > tgMaxUpload {
				return tgFail(http.StatusRequestEntityTooLarge, "Request Entity Too Large"), false
			}
			pct := p.Header.Get("Content-Type")
			if p.FileName() != "" || (pct != "" && !strings.HasPrefix(pct, "text/plain")) {
				q.files[p.FormName()] = data
				q.fileNames[p.FormName()] = p.FileName()
				q.fileTypes[p.FormName()] = pct
			} else {
				q.params[p.FormName()] = string(data)
			}
		}
	}
	return tgAnswer{}, true
}

// jsonParam renders a JSON value as the string a form would carry.
func jsonParam(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String(), true
	}
	return string(raw), true
}

// serveFile serves GET /file/bot<token>/<file_path>.
func (t *Telegram) serveFile(w http.ResponseWriter, r *http.Request) {
	token, filePath, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/file/bot"), "/")
	call := Call{Method: "download", Params: map[string]string{"file_path": filePath}, Header: r.Header.Clone(), At: time.Now()}
	fail := func(a tgAnswer) {
		call.Status, call.Error = a.status, a.desc
		writeTG(w, a)
		t.record(call)
	}
	if token != t.Token {
		fail(tgFail(http.StatusNotFound, "Not Found"))
		return
	}
	if d := t.faults.delayOf("download", false); d > 0 && !sleep(r.Context(), t.done, d) {
		call.Error = "client went away during Delay"
		t.record(call)
		return
	}
	if ft, ok := t.faults.take("download"); ok {
		fail(tgFail(ft.status, ft.text))
		return
	}
	t.mu.Lock()
	f := t.paths[filePath]
	t.mu.Unlock()
	if f == nil || f.data == nil {
		fail(tgFail(http.StatusNotFound, "Not Found"))
		return
	}
	ctype := mime.TypeByExtension(path.Ext(filePath))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.data)
	}
	call.Status = http.StatusOK
	t.record(call)
}

// ---- methods ----

type tgUser struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	Username                string `json:"username,omitempty"`
	CanJoinGroups           *bool  `json:"can_join_groups,omitempty"`
	CanReadAllGroupMessages *bool  `json:"can_read_all_group_messages,omitempty"`
	SupportsInlineQueries   *bool  `json:"supports_inline_queries,omitempty"`
	CanConnectToBusiness    *bool  `json:"can_connect_to_business,omitempty"`
	HasMainWebApp           *bool  `json:"has_main_web_app,omitempty"`
}

type tgChat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

type tgPhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
}

type tgDocument struct {
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
}

type tgMessage struct {
	MessageID      int             `json:"message_id"`
	From           tgUser          `json:"from"`
	Chat           tgChat          `json:"chat"`
	Date           int64           `json:"date"`
	EditDate       int64           `json:"edit_date,omitempty"`
	MediaGroupID   string          `json:"media_group_id,omitempty"`
	ReplyToMessage json.RawMessage `json:"reply_to_message,omitempty"`
	Text           string          `json:"text,omitempty"`
	Photo          []tgPhotoSize   `json:"photo,omitempty"`
	Document       *tgDocument     `json:"document,omitempty"`
	Caption        string          `json:"caption,omitempty"`
	Invoice        *tgInvoice      `json:"invoice,omitempty"`
	ReplyMarkup    *tgMarkup       `json:"reply_markup,omitempty"`
}

func (t *Telegram) botUser(full bool) tgUser {
	u := tgUser{ID: t.BotID, IsBot: true, FirstName: "PhotoBot", Username: t.BotUsername}
	if full {
		yes, no := true, false
		u.CanJoinGroups, u.CanReadAllGroupMessages, u.SupportsInlineQueries = &yes, &no, &no
		u.CanConnectToBusiness, u.HasMainWebApp = &no, &no
	}
	return u
}

func (t *Telegram) getMe(*tgRequest) tgAnswer { return tgOK(t.botUser(true)) }

func (t *Telegram) getFile(q *tgRequest) tgAnswer {
	t.mu.Lock()
	f := t.files[q.params["file_id"]]
	t.mu.Unlock()
	if f == nil {
		return tgBad("invalid file_id")
	}
	if f.size > tgMaxDownload || f.path == "" {
		return tgBad("file is too big")
	}
	return tgOK(struct {
		FileID       string `json:"file_id"`
		FileUniqueID string `json:"file_unique_id"`
		FileSize     int64  `json:"file_size"`
		FilePath     string `json:"file_path"`
	}{f.id, f.uniqueID, f.size, f.path})
}

// chatID reads chat_id.
func chatID(q *tgRequest) (int64, *tgAnswer) {
	s := strings.TrimSpace(q.params["chat_id"])
	if s == "" {
		a := tgBad("chat_id is empty")
		return 0, &a
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		a := tgBad("chat not found")
		return 0, &a
	}
	return id, nil
}

// chatRefusal returns the configured failure of sends to chat id.
func (t *Telegram) chatRefusal(id int64) *tgAnswer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ft, ok := t.chatErrs[id]; ok {
		a := tgFail(ft.status, ft.text)
		return &a
	}
	return nil
}

func chatOf(id int64) tgChat {
	switch {
	case id > 0:
		return tgChat{ID: id, Type: "private"}
	case id <= -1000000000000:
		return tgChat{ID: id, Type: "supergroup"}
	}
	return tgChat{ID: id, Type: "group"}
}

func (t *Telegram) newMessageLocked(chat int64) tgMessage {
	t.messageSeq++
	return tgMessage{MessageID: t.messageSeq, From: t.botUser(false), Chat: chatOf(chat), Date: time.Now().Unix()}
}

func badp(desc string) *tgAnswer {
	a := tgBad(desc)
	return &a
}

// noParseMode fails the test when a request carries parse_mode: photobot
// sends plain text, and the fake does not parse entities.
func (t *Telegram) noParseMode(q *tgRequest, mode string) *tgAnswer {
	if mode == "" {
		return nil
	}
	t.tb.Errorf("fake telegram: %s with parse_mode %q: the fake does not model parse_mode", q.call.Method, mode)
	return badp("the fake does not model parse_mode")
}

func (t *Telegram) checkCaption(q *tgRequest, caption, parseMode string) *tgAnswer {
	if a := t.noParseMode(q, parseMode); a != nil {
		return a
	}
	if utf16Len(caption) > 1024 {
		return badp("message caption is too long")
	}
	return nil
}

// sendOptions are the optional parameters of a send that the fake models.
type sendOptions struct {
	replyTo      int  // reply_parameters.message_id
	allowNoReply bool // reply_parameters.allow_sending_without_reply
	keyboard     Keyboard
}

// sendOptions reads reply_parameters and, when markup, reply_markup.
func (t *Telegram) sendOptions(q *tgRequest, markup bool) (sendOptions, *tgAnswer) {
	var o sendOptions
	if v := q.params["reply_parameters"]; v != "" {
		var rp struct {
			MessageID int  `json:"message_id"`
			Allow     bool `json:"allow_sending_without_reply"`
		}
		if json.Unmarshal([]byte(v), &rp) != nil {
			return o, badp("can't parse reply parameters JSON object")
		}
		o.replyTo, o.allowNoReply = rp.MessageID, rp.Allow
	}
	if markup {
		kb, a := t.inlineKeyboard(q)
		if a != nil {
			return o, a
		}
		o.keyboard = kb
	}
	return o, nil
}

func (t *Telegram) sendMessage(q *tgRequest) tgAnswer {
	chat, a := chatID(q)
	if a != nil {
		return *a
	}
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
	o, a := t.sendOptions(q, true)
	if a != nil {
		return *a
	}
	if a := t.chatRefusal(chat); a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	replyTo, a := t.replyTargetLocked(chat, o)
	if a != nil {
		return *a
	}
	m := t.newMessageLocked(chat)
	m.Text = text
	return tgOK(t.storeSentLocked(q, m, replyTo, o.keyboard, nil))
}

func (t *Telegram) sendPhoto(q *tgRequest) tgAnswer    { return t.sendFile(q, "photo") }
func (t *Telegram) sendDocument(q *tgRequest) tgAnswer { return t.sendFile(q, "document") }

func (t *Telegram) sendFile(q *tgRequest, kind string) tgAnswer {
	chat, a := chatID(q)
	if a != nil {
		return *a
	}
	if a := t.checkCaption(q, q.params["caption"], q.params["parse_mode"]); a != nil {
		return *a
	}
	o, a := t.sendOptions(q, true)
	if a != nil {
		return *a
	}
	if a := t.chatRefusal(chat); a != nil {
		return *a
	}
	replyTo, a := t.replyTarget(chat, o)
	if a != nil {
		return *a
	}
	in, fa := t.resolveFile(q, kind, kind, q.params[kind])
	if fa != nil {
		return *fa
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.newMessageLocked(chat)
	m.Caption = q.params["caption"]
	file := t.attachLocked(&m, kind, in)
	return tgOK(t.storeSentLocked(q, m, replyTo, o.keyboard, file))
}

// inputFile is a file to send: new bytes, or an existing file.
type inputFile struct {
	data     []byte
	name     string
	mimeType string
	partType string // Content-Type of the multipart part
	w, h     int
	existing *tgFile
}

// resolveFile finds the file a send names in value (an upload under key,
// attach://name, an HTTP URL or a file_id).
func (t *Telegram) resolveFile(q *tgRequest, kind, key, value string) (inputFile, *tgAnswer) {
	fail := func(a tgAnswer, td string) (inputFile, *tgAnswer) {
		a.tdCode = td
		return inputFile{}, &a
	}
	missing := "there is no " + kind + " in the request"
	switch {
	case value == "" || strings.HasPrefix(value, "attach://"):
		name := key
		if value != "" {
			name = strings.TrimPrefix(value, "attach://")
		}
		data, ok := q.files[name]
		if !ok {
			return fail(tgBad(missing), "")
		}
		in, a := t.checkUpload(kind, data, q.fileNames[name])
		in.partType = q.fileTypes[name]
		return in, a
	case strings.HasPrefix(value, "http://") || strings.HasPrefix(value, "https://"):
		return t.fetchFile(q, kind, key, value)
	default:
		t.mu.Lock()
		f := t.files[value]
		t.mu.Unlock()
		if f == nil {
			return fail(tgBad("wrong file identifier/HTTP URL specified"), "Wrong file identifier/HTTP URL specified")
		}
		return inputFile{existing: f}, nil
	}
}

func (t *Telegram) checkUpload(kind string, data []byte, name string) (inputFile, *tgAnswer) {
	in := inputFile{data: data, name: name}
	if len(data) == 0 {
		a := tgBad("file must be non-empty")
		return in, &a
	}
	if kind == "photo" {
		if len(data) > tgMaxPhotoUpload {
			a := tgBad(fmt.Sprintf("file of size %d bytes is too big for a photo; the maximum size is %d bytes", len(data), tgMaxPhotoUpload))
			return in, &a
		}
		return t.checkImage(in)
	}
	in.mimeType = mimeByExt[strings.ToLower(path.Ext(name))]
	if in.mimeType == "" {
		in.mimeType = "application/octet-stream"
	}
	return in, nil
}

// mimeByExt is the part of TDLib's MimeType::from_extension table that
// photobot's outputs can need.
var mimeByExt = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".webp": "image/webp", ".gif": "image/gif", ".tif": "image/tiff", ".tiff": "image/tiff",
	".pdf": "application/pdf", ".zip": "application/zip"}

func (t *Telegram) checkImage(in inputFile) (inputFile, *tgAnswer) {
	_, w, h, ok := imageSize(in.data)
	if !ok {
		if t.LaxImages {
			in.w, in.h = 1280, 960
			return in, nil
		}
		a := tgBad("IMAGE_PROCESS_FAILED")
		a.tdCode = "IMAGE_PROCESS_FAILED"
		return in, &a
	}
	if !t.LaxImages && (w+h > 10000 || max(w, h) > 20*min(w, h)) {
		a := tgBad("PHOTO_INVALID_DIMENSIONS")
		a.tdCode = "PHOTO_INVALID_DIMENSIONS"
		return in, &a
	}
	in.w, in.h = w, h
	return in, nil
}

// fetchFile downloads a file sent by URL, as Telegram's servers do.
func (t *Telegram) fetchFile(q *tgRequest, kind, key, rawURL string) (inputFile, *tgAnswer) {
	curl := tgBad("failed to get HTTP URL content")
	curl.tdCode = "WEBPAGE_CURL_FAILED"
	wrongType := tgBad("wrong type of the web page content")
	wrongType.tdCode = "WEBPAGE_MEDIA_EMPTY"
	limit := int64(tgMaxFileURL)
	if kind == "photo" {
		limit = tgMaxPhotoURL
	}
	client := &http.Client{Timeout: t.FetchTimeout, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) > 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(q.ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return inputFile{}, &curl
	}
	req.Header.Set("User-Agent", "TelegramBot (like TwitterBot)")
	resp, err := client.Do(req)
	if err != nil {
		return inputFile{}, &curl
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return inputFile{}, &curl
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil || int64(len(data)) > limit {
		return inputFile{}, &curl
	}
	q.call.Fetched[key] = data
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	in := inputFile{data: data, mimeType: ctype}
	if u, err := url.Parse(rawURL); err == nil {
		in.name = path.Base(u.Path)
	}
	switch kind {
	case "photo":
		if len(data) == 0 || !strings.HasPrefix(ctype, "image/") {
			return in, &wrongType
		}
		return t.checkImage(in)
	case "document":
		if len(data) == 0 || (ctype != "application/pdf" && ctype != "application/zip" && ctype != "image/gif") {
			return in, &wrongType
		}
	}
	return in, nil
}

// attachLocked stores a sent file and puts it into m.
func (t *Telegram) attachLocked(m *tgMessage, kind string, in inputFile) *MessageFile {
	mf := &MessageFile{Name: in.name, UploadType: in.partType, Data: in.data}
	switch f := in.existing; {
	case kind == "photo":
		if f == nil {
			m.Photo = t.photoSizesLocked(in.data, in.w, in.h, nil)
		} else if _, w, h, ok := imageSize(f.data); ok {
			m.Photo, mf.Data = t.photoSizesLocked(f.data, w, h, f), f.data
		} else {
			m.Photo, mf.Data = []tgPhotoSize{{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size, Width: 1280, Height: 960}}, f.data
		}
		p := m.Photo[len(m.Photo)-1]
		mf.ID, mf.UniqueID, mf.Size, mf.Width, mf.Height = p.FileID, p.FileUniqueID, p.FileSize, p.Width, p.Height
		return mf
	case f != nil:
		m.Document = &tgDocument{FileName: path.Base(f.path), FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size}
		mf.Data = f.data
	default:
		ext := path.Ext(in.name)
		if ext == "" {
			for e, mt := range mimeByExt {
				if mt == in.mimeType && (ext == "" || e < ext) {
					ext = e
				}
			}
		}
		f := t.newFileLocked("BQACAgIAAxkBAA", fmt.Sprintf("documents/file_%d%s", t.fileSeq, ext), in.data)
		m.Document = &tgDocument{FileName: in.name, MimeType: in.mimeType, FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size}
	}
	d := m.Document
	mf.ID, mf.UniqueID, mf.Name, mf.MimeType, mf.Size = d.FileID, d.FileUniqueID, d.FileName, d.MimeType, d.FileSize
	return mf
}

func (t *Telegram) newFileLocked(prefix, filePath string, data []byte) *tgFile {
	t.fileSeq++
	f := &tgFile{id: prefix + randString(base64URL, 58), uniqueID: "AQAD" + randString(base64URL, 12),
		path: filePath, data: data, size: int64(len(data))}
	t.addFileLocked(f)
	return f
}

// photoSizesLocked lists the sizes Telegram would make of a w×h photo
// (longest side 90, 320, 800, 1280, 2560), largest last. All of them
// download data. When largest is set it is reused as the largest size.
func (t *Telegram) photoSizesLocked(data []byte, w, h int, largest *tgFile) []tgPhotoSize {
	side := max(w, h, 1)
	var sizes []tgPhotoSize
	for _, limit := range []int{90, 320, 800, 1280, 2560} {
		last := side <= limit || limit == 2560
		sw, sh := w, h
		if side > limit {
			sw, sh = w*limit/side, h*limit/side
		}
		var f *tgFile
		if last && largest != nil {
			f = largest
		} else {
			f = t.newFileLocked("AgACAgIAAxkBAA", fmt.Sprintf("photos/file_%d.jpg", t.fileSeq), data)
			if !last {
				f.size = max(1, int64(len(data))*int64(sw*sh)/int64(max(w*h, 1)))
			}
		}
		sizes = append(sizes, tgPhotoSize{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size, Width: sw, Height: sh})
		if last {
			break
		}
	}
	return sizes
}

func (t *Telegram) sendMediaGroup(q *tgRequest) tgAnswer {
	chat, a := chatID(q)
	if a != nil {
		return *a
	}
	raw, ok := q.params["media"]
	if !ok || raw == "" {
		return tgBad(`parameter "media" is required`)
	}
	var items []struct {
		Type      string `json:"type"`
		Media     string `json:"media"`
		Caption   string `json:"caption"`
		ParseMode string `json:"parse_mode"`
	}
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		return tgBad("can't parse media JSON object")
	}
	switch n := len(items); {
	case n == 0:
		return tgBad("there are no messages to send")
	case n > 10:
		return tgBad("too many messages to send as an album")
	case n == 1:
		return tgBad("wrong number of media items: an album must include 2-10 items")
	}
	kinds := map[string]bool{}
	for _, it := range items {
		switch it.Type {
		case "photo", "document":
		case "video", "audio":
			t.tb.Errorf("fake telegram: sendMediaGroup with a %s: the fake does not model %[1]s albums", it.Type)
			return tgBad("the fake does not model " + it.Type + " albums")
		default:
			return tgBad(fmt.Sprintf("can't parse InputMedia: type %q is unsupported", it.Type))
		}
		if it.Media == "" {
			return tgBad("can't parse InputMedia: media not found")
		}
		if a := t.checkCaption(q, it.Caption, it.ParseMode); a != nil {
			return *a
		}
		kinds[it.Type] = true
	}
	if len(kinds) > 1 {
		// TDLib's check_message_group_message_contents: "Document can't be
		// mixed with other media types", first letter lowered by the server.
		return tgBad("document can't be mixed with other media types")
	}
	o, a := t.sendOptions(q, false) // sendMediaGroup has no reply_markup
	if a != nil {
		return *a
	}
	if a := t.chatRefusal(chat); a != nil {
		return *a
	}
	replyTo, a := t.replyTarget(chat, o)
	if a != nil {
		return *a
	}
	ins := make([]inputFile, len(items))
	for i, it := range items {
		if strings.HasPrefix(it.Media, "attach://") {
			if _, ok := q.files[strings.TrimPrefix(it.Media, "attach://")]; !ok {
				return tgBad("can't parse InputMedia: media not found")
			}
		}
		in, fa := t.resolveFile(q, it.Type, fmt.Sprintf("media.%d", i), it.Media)
		if fa != nil {
			if fa.tdCode != "" {
				return tgBad(fmt.Sprintf("failed to send message #%d with the error message %q", i+1, fa.tdCode))
			}
			return *fa
		}
		ins[i] = in
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	group := "1" + randString("0123456789", 16)
	msgs := make([]json.RawMessage, len(items))
	for i, it := range items {
		m := t.newMessageLocked(chat)
		m.MediaGroupID = group
		m.Caption = it.Caption
		file := t.attachLocked(&m, it.Type, ins[i])
		msgs[i] = t.storeSentLocked(q, m, replyTo, nil, file)
	}
	return tgOK(msgs)
}

var chatActions = map[string]bool{"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true}

func (t *Telegram) sendChatAction(q *tgRequest) tgAnswer {
	chat, a := chatID(q)
	if a != nil {
		return *a
	}
	if !chatActions[q.params["action"]] {
		return tgBad("wrong parameter action in request")
	}
	if a := t.chatRefusal(chat); a != nil {
		return *a
	}
	return tgOK(true)
}

func isTrue(s string) bool { return s == "true" || s == "1" || s == "True" }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (t *Telegram) setWebhook(q *tgRequest) tgAnswer {
	raw := q.params["url"]
	if raw == "" {
		return t.deleteWebhook(q)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return tgBad("bad webhook: invalid URL specified")
	}
	loop := isLoopback(u.Hostname())
	if u.Scheme != "https" && !loop {
		return tgBad("bad webhook: An HTTPS URL must be provided for webhook")
	}
	if p := u.Port(); !loop && p != "" && p != "443" && p != "80" && p != "88" && p != "8443" {
		return tgBad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
	}
	secret := q.params["secret_token"]
	if len(secret) > 256 || strings.IndexFunc(secret, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return tgBad("secret token contains unallowed characters")
	}
	maxConn := 40
	if s := q.params["max_connections"]; s != "" {
		if n, err := strconv.Atoi(s); err == nil && n != 0 {
			maxConn = min(max(n, 1), 100)
		}
	}
	var allowed []string
	if s := q.params["allowed_updates"]; s != "" {
		if json.Unmarshal([]byte(s), &allowed) != nil {
			return tgBad("can't parse allowed updates JSON object")
		}
	}
	_, cert := q.files["certificate"]
	cfg := WebhookConfig{URL: raw, SecretToken: secret, AllowedUpdates: allowed, MaxConnections: maxConn,
		IPAddress: q.params["ip_address"], DropPendingUpdates: isTrue(q.params["drop_pending_updates"]),
		HasCertificate: cert, SetAt: time.Now()}
	t.mu.Lock()
	same := t.webhook.URL == raw
	t.webhook = cfg
	if allowed != nil {
		t.allowedUpdates = allowed
	}
	if cfg.DropPendingUpdates {
		t.updates = nil
	}
	t.mu.Unlock()
	t.updatesChanged.signal() // pending getUpdates calls now conflict
	a := tgOK(true)
	a.desc = "Webhook was set"
	if same {
		a.desc = "Webhook is already set"
	}
	return a
}

func (t *Telegram) deleteWebhook(q *tgRequest) tgAnswer {
	t.mu.Lock()
	had := t.webhook.URL != ""
	t.webhook = WebhookConfig{}
	if isTrue(q.params["drop_pending_updates"]) {
		t.updates = nil
	}
	t.mu.Unlock()
	a := tgOK(true)
	a.desc = "Webhook is already deleted"
	if had {
		a.desc = "Webhook was deleted"
	}
	return a
}

func (t *Telegram) getWebhookInfo(*tgRequest) tgAnswer {
	t.mu.Lock()
	defer t.mu.Unlock()
	info := struct {
		URL                  string   `json:"url"`
		HasCustomCertificate bool     `json:"has_custom_certificate"`
		PendingUpdateCount   int      `json:"pending_update_count"`
		IPAddress            string   `json:"ip_address,omitempty"`
		LastErrorDate        int64    `json:"last_error_date,omitempty"`
		LastErrorMessage     string   `json:"last_error_message,omitempty"`
		MaxConnections       int      `json:"max_connections,omitempty"`
		AllowedUpdates       []string `json:"allowed_updates,omitempty"`
	}{URL: t.webhook.URL, HasCustomCertificate: t.webhook.HasCertificate, PendingUpdateCount: len(t.updates),
		IPAddress: t.webhook.IPAddress, LastErrorMessage: t.lastErrMsg, MaxConnections: t.webhook.MaxConnections,
		AllowedUpdates: t.webhook.AllowedUpdates}
	if t.pendingOverride >= 0 {
		info.PendingUpdateCount = t.pendingOverride
	}
	if t.lastErrMsg != "" {
		info.LastErrorDate = t.lastErrDate.Unix()
	}
	return tgOK(info)
}

// getUpdates long-polls the queue filled by PushUpdate.
func (t *Telegram) getUpdates(q *tgRequest) tgAnswer {
	conflictWebhook := tgFail(http.StatusConflict,
		"Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	offset, _ := strconv.ParseInt(q.params["offset"], 10, 64)
	limit := 100
	if n, err := strconv.Atoi(q.params["limit"]); err == nil && n > 0 {
		limit = min(n, 100)
	}
	var timeout time.Duration
	if s, err := strconv.ParseFloat(q.params["timeout"], 64); err == nil && s > 0 {
		timeout = time.Duration(s * float64(time.Second))
	}
	var allowed []string
	if s := q.params["allowed_updates"]; s != "" {
		if json.Unmarshal([]byte(s), &allowed) != nil {
			return tgBad("can't parse allowed updates JSON object")
		}
	}

	t.mu.Lock()
	if t.webhook.URL != "" {
		t.mu.Unlock()
		return conflictWebhook
	}
	if allowed != nil {
		t.allowedUpdates = allowed
	}
	mine := make(chan struct{})
	if t.poller != nil {
		close(t.poller) // the older request ends with a conflict
	}
	t.poller = mine
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.poller == mine {
			t.poller = nil
		}
		t.mu.Unlock()
	}()

	deadline := time.Now().Add(timeout)
	for {
		wake := t.updatesChanged.wait()
		t.mu.Lock()
		if t.webhook.URL != "" {
			t.mu.Unlock()
			return conflictWebhook
		}
		res := t.takeUpdatesLocked(offset, limit)
		t.mu.Unlock()
		left := time.Until(deadline)
		if len(res) > 0 || left <= 0 {
			return tgOK(res)
		}
		timer := time.NewTimer(left)
		select {
		case <-wake:
		case <-timer.C:
		case <-mine:
			timer.Stop()
			return tgFail(http.StatusConflict,
				"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
		case <-q.ctx.Done():
			timer.Stop()
			return tgOK([]json.RawMessage{})
		case <-t.done:
			timer.Stop()
			return tgOK([]json.RawMessage{})
		}
		timer.Stop()
	}
}

// defaultUpdates are the update kinds sent when allowed_updates is empty.
func updateAllowed(kind string, allowed []string) bool {
	if len(allowed) == 0 {
		return kind != "chat_member" && kind != "message_reaction" && kind != "message_reaction_count"
	}
	for _, a := range allowed {
		if a == kind {
			return true
		}
	}
	return false
}

// takeUpdatesLocked confirms the updates before offset and returns up to
// limit of the rest. Updates of kinds not allowed are dropped, as Telegram
// never queues them.
func (t *Telegram) takeUpdatesLocked(offset int64, limit int) []json.RawMessage {
	switch {
	case offset > 0:
		i := 0
		for i < len(t.updates) && t.updates[i].id < offset {
			i++
		}
		t.updates = t.updates[i:]
	case offset < 0:
		if n := int(-offset); n < len(t.updates) {
			t.updates = t.updates[len(t.updates)-n:]
		}
	}
	kept := t.updates[:0]
	for _, u := range t.updates {
		if updateAllowed(u.kind, t.allowedUpdates) {
			kept = append(kept, u)
		}
	}
	t.updates = kept
	res := []json.RawMessage{}
	for _, u := range t.updates {
		if len(res) == limit {
			break
		}
		res = append(res, u.raw)
	}
	return res
}

func commandsKey(q *tgRequest) (string, *tgAnswer) {
	scope := "default"
	if s := q.params["scope"]; s != "" {
		var sc struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(s), &sc) != nil || sc.Type == "" {
			a := tgBad("can't parse BotCommandScope JSON object")
			return "", &a
		}
		scope = sc.Type
	}
	return scope + "|" + q.params["language_code"], nil
}

func (t *Telegram) setMyCommands(q *tgRequest) tgAnswer {
	raw, ok := q.params["commands"]
	if !ok {
		return tgBad(`parameter "commands" is required`)
	}
	var cmds []BotCommand
	if json.Unmarshal([]byte(raw), &cmds) != nil {
		return tgBad("can't parse commands JSON object")
	}
	if len(cmds) > 100 {
		return tgBad("too many commands specified")
	}
	for _, c := range cmds {
		if c.Command == "" || len(c.Command) > 32 || strings.IndexFunc(c.Command, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
		}) >= 0 {
			return tgBad("BOT_COMMAND_INVALID")
		}
		if n := utf8.RuneCountInString(c.Description); n == 0 || n > 256 {
			return tgBad("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	key, a := commandsKey(q)
	if a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.commands[key] = cmds
	return tgOK(true)
}

func (t *Telegram) getMyCommands(q *tgRequest) tgAnswer {
	key, a := commandsKey(q)
	if a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return tgOK(append([]BotCommand{}, t.commands[key]...))
}

func (t *Telegram) deleteMyCommands(q *tgRequest) tgAnswer {
	key, a := commandsKey(q)
	if a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.commands, key)
	return tgOK(true)
}

// utf16Len counts s in UTF-16 code units, as the Bot API's length limits do.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
