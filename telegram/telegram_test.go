package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/pipeline"
)

const token = "123456:SECRET-token_value"

// server answers the Bot API's way: every call in turn gets the next answer.
func server(t *testing.T, answers ...string) (*Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		var code int
		fmt.Sscanf(a, "%d ", &code)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, a[strings.Index(a, " ")+1:])
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = time.Millisecond
	return c, &n
}

const okMessage = `200 {"ok":true,"result":{"message_id":5,"date":1700000000,"chat":{"id":1,"type":"private"}}}`

func send(c *Client) error {
	return c.Send(context.Background(), &pipeline.Reply{ChatID: 1, Text: "hi"})
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	for _, a := range []string{
		`400 {"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`,
		`403 {"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`,
		`401 {"ok":false,"error_code":401,"description":"Unauthorized"}`,
	} {
		c, n := server(t, a)
		err := send(c)
		if !IsPermanent(err) || n.Load() != 1 {
			t.Errorf("%s: err %v after %d calls; want permanent after 1", a, err, n.Load())
		}
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	for _, a := range []string{
		`500 {"ok":false,"error_code":500,"description":"Internal Server Error"}`,
		`502 <html>Bad Gateway</html>`,
		`429 {"ok":false,"error_code":429,"description":"Too Many Requests: retry after 0","parameters":{"retry_after":0}}`,
	} {
		c, n := server(t, a, okMessage)
		if err := send(c); err != nil || n.Load() != 2 {
			t.Errorf("%s: err %v after %d calls; want success on the 2nd", a, err, n.Load())
		}
		c, n = server(t, a)
		err := send(c)
		if err == nil || IsPermanent(err) || n.Load() != 3 {
			t.Errorf("%s always: err %v after %d calls; want a transient error after 3", a, err, n.Load())
		}
	}
}

func TestLongRetryAfterEndsTheCall(t *testing.T) {
	c, n := server(t, `429 {"ok":false,"error_code":429,"description":"Too Many Requests: retry after 30","parameters":{"retry_after":30}}`)
	err := send(c)
	var e *Error
	if !errors.As(err, &e) || e.RetryAfter != 30*time.Second || n.Load() != 1 {
		t.Errorf("err %v after %d calls", err, n.Load())
	}
}

func TestURLRefused(t *testing.T) {
	for desc, want := range map[string]bool{
		"Bad Request: failed to get HTTP URL content":           true,
		"Bad Request: wrong type of the web page content":       true,
		"Bad Request: wrong file identifier/HTTP URL specified": true,
		"Bad Request: chat not found":                           false,
	} {
		c, _ := server(t, fmt.Sprintf(`400 {"ok":false,"error_code":400,"description":%q}`, desc))
		if got := urlRefused(send(c)); got != want {
			t.Errorf("%q: urlRefused = %v", desc, got)
		}
	}
}

func TestErrorsNeverShowTheToken(t *testing.T) {
	c, err := New("http://127.0.0.1:1", token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Attempts = 1
	errs := []error{send(c)}
	_, _, derr := c.download(context.Background(), "photos/file_1.jpg")
	errs = append(errs, derr)
	_, gerr := c.GetUpdates(context.Background(), 0, time.Second, nil)
	errs = append(errs, gerr)
	for _, err := range errs {
		if err == nil || strings.Contains(err.Error(), "SECRET-token") {
			t.Errorf("err = %v", err)
		}
	}
}

// The core tells failures apart by pipeline's sentinels.
func TestErrorsAreSortedForTheCore(t *testing.T) {
	for _, tc := range []struct {
		method, answer string
		want           error
	}{
		{"sendMessage", `403 {"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`, pipeline.ErrGone},
		{"sendMessage", `400 {"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, pipeline.ErrGone},
		{"sendMessage", `401 {"ok":false,"error_code":401,"description":"Unauthorized"}`, pipeline.ErrConfig},
		{"sendMessage", `400 {"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`, pipeline.ErrConfig},
		{"getFile", `400 {"ok":false,"error_code":400,"description":"Bad Request: wrong file_id or the file is temporarily unavailable"}`, pipeline.ErrFileGone},
		{"getFile", `400 {"ok":false,"error_code":400,"description":"Bad Request: file is too big"}`, pipeline.ErrTooBig},
	} {
		c, _ := server(t, tc.answer)
		var err error
		if tc.method == "getFile" {
			_, _, err = c.OpenFile(context.Background(), "AgACx")
		} else {
			err = send(c)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s %s: %v is not %v", tc.method, tc.answer, err, tc.want)
		}
		for _, other := range []error{pipeline.ErrGone, pipeline.ErrConfig, pipeline.ErrFileGone} {
			if other != tc.want && other != pipeline.ErrFileGone && errors.Is(err, other) {
				t.Errorf("%s %s: also %v", tc.method, tc.answer, other)
			}
		}
	}
}

// An unreachable server is told apart from one that answers, and the
// error names the server, not the token.
func TestUnreachable(t *testing.T) {
	c, err := New("http://127.0.0.1:1", token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Attempts = 1
	err = send(c)
	var e *Error
	if !errors.As(err, &e) || !e.Unreachable() || !strings.Contains(err.Error(), "cannot reach http://127.0.0.1:1") ||
		strings.Contains(err.Error(), "<token>") {
		t.Errorf("err = %v", err)
	}
	c, _ = server(t, `401 {"ok":false,"error_code":401,"description":"Unauthorized"}`)
	if err := send(c); !errors.As(err, &e) || e.Unreachable() {
		t.Errorf("a 401 counted as unreachable: %v", err)
	}
}

func TestWebhookAnswer(t *testing.T) {
	var m map[string]any
	json.Unmarshal(WebhookAnswer(&pipeline.Reply{ChatID: 5, Text: "hi", ReplyTo: 7}), &m)
	rp, _ := m["reply_parameters"].(map[string]any)
	if m["method"] != "sendMessage" || m["chat_id"] != float64(5) || m["text"] != "hi" || rp["message_id"] != float64(7) ||
		rp["allow_sending_without_reply"] != true || m["reply_markup"] != nil {
		t.Errorf("got %v", m)
	}
	m = nil
	json.Unmarshal(WebhookAnswer(&pipeline.Reply{ChatID: 5, Text: "hi"}), &m)
	if m["reply_parameters"] != nil {
		t.Errorf("reply_parameters without a message to reply to: %v", m)
	}
	// An edit with buttons: callback buttons only, nothing else on them.
	data := WebhookAnswer(&pipeline.Reply{ChatID: 5, Edit: 9, Text: "working", Buttons: [][]pipeline.Button{{{Text: "Cancel", Data: "x:abc"}}}})
	want := `{"chat_id":5,"message_id":9,"method":"editMessageText","reply_markup":{"inline_keyboard":[[{"text":"Cancel","callback_data":"x:abc"}]]},"text":"working"}`
	if string(data) != want {
		t.Errorf("edit = %s\nwant  %s", data, want)
	}
}
