package longpoll_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// Stars in photobot run: the photo over the free allowance gets an
// invoice, the pre_checkout_query and the payment come through getUpdates,
// the paid photo starts by itself and its result arrives, once, though
// Telegram hands the payment over twice.
func TestPaymentsInRun(t *testing.T) {
	tg := fake.NewTelegram(t, testenv.BotToken)
	rp := fake.NewReplicate(t, testenv.ReplicateToken)
	vars := map[string]string{
		"TG_BOT_TOKEN": testenv.BotToken, "REPLICATE_API_TOKEN": testenv.ReplicateToken,
		"REPLICATE_MODEL": "acme/photo-restore", "DATA_DIR": t.TempDir(), "PRICE_STARS": "3", "FREE_PER_DAY": "0",
		"TELEGRAM_API_URL": tg.URL, "REPLICATE_API_URL": rp.URL,
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, config.Run)
	if err != nil {
		t.Fatal(err)
	}
	b, err := app.New(cfg, app.Logger(io.Discard, cfg.LogLevel), config.Run)
	if err != nil {
		t.Fatal(err)
	}
	b.TrustResultOriginsForTests(rp.URL)
	r := b.LongPoll()
	r.PollTimeout, r.Interval = time.Second, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	tg.PushUpdate(photoUpdate(tg, 3001, fake.JPEG(64, 48)))
	inv := tg.WaitInvoices(t, 1, 10*time.Second)[0]
	if inv.Stars != 3 || inv.ChatID != 3001 || len(rp.Predictions()) != 0 {
		t.Fatalf("invoice %+v with %d predictions; want 3 Stars to chat 3001 and nothing billed", inv, len(rp.Predictions()))
	}
	p := tg.Pay(t, inv, fake.User{}, fake.ViaLongPoll)
	if !p.Paid {
		t.Fatalf("the payment was refused: %+v", p.Checkout)
	}
	tg.Redeliver(t, p.Update, 1, fake.ViaLongPoll)
	tg.WaitCalls(t, "sendPhoto", 1, 20*time.Second)
	rp.WaitIdle(t, 10*time.Second)
	if n := len(rp.Predictions()); n != 1 {
		t.Errorf("%d predictions for one paid photo, want 1", n)
	}
	if n := len(tg.Calls("sendPhoto")); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
}
