package telegram

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/photobot/photobot/pipeline"
)

// texts records the text of every sendMessage and answers the first
// tooLong calls with the Bot API's "message is too long".
func texts(t *testing.T, tooLong int) (*Client, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseMultipartForm(1 << 20) // go-telegram/bot's encoding
		mu.Lock()
		got = append(got, r.FormValue("text"))
		n := len(got)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n <= tooLong {
			w.WriteHeader(400)
			io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}`)
			return
		}
		io.WriteString(w, okMessage[4:])
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func units(s string) int { return len(utf16.Encode([]rune(s))) }

func TestTextIsCutByUTF16Length(t *testing.T) {
	c, got := texts(t, 0)
	if err := c.Send(context.Background(), &pipeline.Reply{ChatID: 1, Text: strings.Repeat("😀", 3000)}); err != nil {
		t.Fatal(err)
	}
	s := got()[0]
	if n := units(s); n > 4096 || n < 4090 || !utf8.ValidString(s) || !strings.HasSuffix(s, "😀…") {
		t.Errorf("sent %d UTF-16 code units ending %q", n, s[max(0, len(s)-8):])
	}
	// Short texts, and texts of one-unit runes up to the limit, go whole.
	for _, text := range []string{"hi", strings.Repeat("ж", 4096), strings.Repeat("😀", 2048)} {
		c, got := texts(t, 0)
		if err := c.Send(context.Background(), &pipeline.Reply{ChatID: 1, Text: text}); err != nil || got()[0] != text {
			t.Errorf("%d runes: %v, sent %d", utf8.RuneCountInString(text), err, utf8.RuneCountInString(got()[0]))
		}
	}
}

// "message is too long" is mended by a shorter text, not dropped.
func TestTooLongIsSentShorter(t *testing.T) {
	c, got := texts(t, 1)
	if err := c.Send(context.Background(), &pipeline.Reply{ChatID: 1, Text: strings.Repeat("ab ", 1000)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	sent := got()
	if len(sent) != 2 || units(sent[1]) >= units(sent[0]) || !strings.HasPrefix(sent[1], "ab ab") {
		t.Errorf("sent %d texts of %v code units", len(sent), []int{units(sent[0]), units(sent[len(sent)-1])})
	}
}
