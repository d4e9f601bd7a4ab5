package telegram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot"
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
	return c.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: 1, Text: "hi"})
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
		if got := IsURLRefused(send(c)); got != want {
			t.Errorf("%q: IsURLRefused = %v", desc, got)
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
	_, _, derr := c.Download(context.Background(), "photos/file_1.jpg")
	errs = append(errs, derr)
	_, gerr := c.GetUpdates(context.Background(), 0, time.Second, nil)
	errs = append(errs, gerr)
	for _, err := range errs {
		if err == nil || strings.Contains(err.Error(), "SECRET-token") {
			t.Errorf("err = %v", err)
		}
	}
}
