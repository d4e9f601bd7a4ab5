package telegram

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/pipeline"
)

// internalServer stands for an address inside photobot's network (a
// metadata service); it counts the requests that reach it.
func internalServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("instance metadata"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// noneSent fails when any result reached the chat.
func noneSent(t *testing.T, tg *fake.Telegram) {
	t.Helper()
	for _, m := range []string{"sendPhoto", "sendDocument", "sendMediaGroup"} {
		if calls := tg.Calls(m); len(calls) > 0 {
			t.Errorf("%s reached the user: %v", m, calls[0].Params)
		}
	}
}

// With the default result hosts, a model's output on an internal server
// is neither handed to Telegram nor downloaded: the core hears of a file
// that cannot be had, and the error names the host, not the URL.
func TestInternalOutputNeverReachesTheUser(t *testing.T) {
	internal, hits := internalServer(t)
	for _, out := range []string{internal.URL + "/latest/meta-data/x.png", internal.URL + "/latest/meta-data/x.bin"} {
		tg := fake.NewTelegram(t, token)
		c, err := New(tg.URL, token, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.SendResult(context.Background(), &pipeline.Result{ChatID: 7, Files: []string{out}})
		if !errors.Is(err, pipeline.ErrFileGone) {
			t.Errorf("%s: %v, want ErrFileGone", out, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "meta-data")) {
			t.Errorf("the error should name the host and not the URL: %v", err)
		}
		noneSent(t, tg)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal server was reached %d times", n)
	}
}

// An output on an allowed origin that redirects inside the network is
// refused when photobot downloads it (a .bin goes as an upload).
func TestRedirectToAnInternalAddressIsRefused(t *testing.T) {
	internal, hits := internalServer(t)
	allowed := httptest.NewServer(http.RedirectHandler(internal.URL+"/latest/meta-data/", http.StatusFound))
	t.Cleanup(allowed.Close)
	tg := fake.NewTelegram(t, token)
	c, err := New(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.TrustResultOriginsForTests(nil, []string{allowed.URL})
	err = c.SendResult(context.Background(), &pipeline.Result{ChatID: 7, Files: []string{allowed.URL + "/out.bin"}})
	if !errors.Is(err, pipeline.ErrFileGone) {
		t.Errorf("%v, want ErrFileGone", err)
	}
	noneSent(t, tg)
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal server was reached %d times", n)
	}
}

// An output on an allowed origin reaches the user, as a photo (fetched by
// Telegram) and as a document (downloaded and uploaded by photobot).
func TestAllowedOutputReachesTheUser(t *testing.T) {
	png := fake.PNG(64, 48)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	}))
	t.Cleanup(origin.Close)
	tg := fake.NewTelegram(t, token)
	c, err := New(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.TrustResultOriginsForTests(nil, []string{origin.URL})
	ctx := context.Background()
	if err := c.SendResult(ctx, &pipeline.Result{ChatID: 7, Files: []string{origin.URL + "/out.png"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SendResult(ctx, &pipeline.Result{ChatID: 7, Files: []string{origin.URL + "/out.bin"}}); err != nil {
		t.Fatal(err)
	}
	if p := tg.Calls("sendPhoto"); len(p) != 1 || !bytes.Equal(p[0].Fetched["photo"], png) {
		t.Errorf("the photo did not reach the user: %d calls", len(p))
	}
	if d := tg.Calls("sendDocument"); len(d) != 1 || !bytes.Equal(d[0].Files["document"], png) {
		t.Errorf("the document did not reach the user: %d calls", len(d))
	}
}
