package telegram

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
)

// A chart the bot drew goes up as a multipart photo, with its caption; a
// transient failure is retried (the bytes are at hand).
func TestSendPNGUploadsThePhoto(t *testing.T) {
	tg := fake.NewTelegram(t, token)
	c, err := New(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = time.Millisecond
	png := fake.PNG(120, 80)
	tg.FailNext("sendPhoto", http.StatusInternalServerError, "Internal Server Error")
	if err := c.SendPNG(context.Background(), 42, png, "Photos per day"); err != nil {
		t.Fatal(err)
	}
	calls := tg.Calls("sendPhoto")
	if len(calls) != 2 {
		t.Fatalf("%d sendPhoto calls, want 2 (one retry)", len(calls))
	}
	last := calls[1]
	if last.Status != http.StatusOK || !bytes.Equal(last.Files["photo"], png) || last.Params["chat_id"] != "42" ||
		last.Params["caption"] != "Photos per day" {
		t.Errorf("sendPhoto: status %d, %d bytes, params %v", last.Status, len(last.Files["photo"]), last.Params)
	}
	if msgs := tg.Messages(42); len(msgs) != 1 {
		t.Errorf("%d messages in the chat, want the photo", len(msgs))
	}
}
