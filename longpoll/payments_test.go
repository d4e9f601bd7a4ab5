package longpoll_test

import (
	"testing"
	"time"

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
	start(t, runnerWith(t, tg, rp, t.TempDir(), map[string]string{
		"REPLICATE_MODEL": "acme/photo-restore", "PRICE_STARS": "3", "FREE_PER_DAY": "0"}))

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
