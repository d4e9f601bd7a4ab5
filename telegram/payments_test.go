package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/pipeline"
)

func fakeClient(t *testing.T) (*Client, *fake.Telegram) {
	t.Helper()
	tg := fake.NewTelegram(t, token)
	c, err := New(tg.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = time.Millisecond
	return c, tg
}

func TestSendInvoice(t *testing.T) {
	c, tg := fakeClient(t)
	ctx := context.Background()
	packs := [][]pipeline.Button{{{Text: "50 ⭐", Data: "buy:50"}, {Text: "150 ⭐", Data: "buy:150"}}}
	inv := &pipeline.Invoice{ChatID: 42, ReplyTo: 7, Title: "Увеличить ×4 — одно фото, без очереди и без ожидания",
		Description: strings.Repeat("Описание. ", 40), Payload: strings.Repeat("p", 128), Stars: 10, Buttons: packs}
	if err := c.SendInvoice(ctx, inv); err != nil {
		t.Fatal(err)
	}
	got := tg.WaitInvoices(t, 1, 5*time.Second)[0]
	if got.Currency != "XTR" || got.Stars != 10 || got.Payload != inv.Payload || got.ChatID != 42 || got.ReplyTo != 7 ||
		got.PayText == "" || len(got.Keyboard) != 1 || got.Keyboard[0][1].CallbackData != "buy:150" {
		t.Errorf("invoice sent: %+v", got)
	}
	if !strings.HasPrefix(inv.Title, got.Title[:len(got.Title)-len("…")]) || len([]rune(got.Title)) > 32 ||
		len([]rune(got.Description)) > 255 {
		t.Errorf("title %q, description of %d characters: not cut to Telegram's limits", got.Title, len([]rune(got.Description)))
	}
	p := tg.Calls("sendInvoice")[0].Params
	if p["provider_token"] != "" || p["currency"] != "XTR" {
		t.Errorf("sendInvoice params: %v", p)
	}
	var prices []map[string]any
	if json.Unmarshal([]byte(p["prices"]), &prices) != nil || len(prices) != 1 || prices[0]["amount"] != 10.0 {
		t.Errorf("prices: %s", p["prices"])
	}

	// Without buttons, no keyboard: Telegram shows its own Pay button.
	if err := c.SendInvoice(ctx, &pipeline.Invoice{ChatID: 42, Title: "T", Description: "D", Payload: "x", Stars: 1}); err != nil {
		t.Fatal(err)
	}
	if got := tg.WaitInvoices(t, 2, 5*time.Second)[1]; got.PayText != "" || tg.Calls("sendInvoice")[1].Params["reply_markup"] != "" {
		t.Errorf("an invoice without buttons: %+v", got)
	}

	// A payload Telegram would refuse is refused before any call.
	for _, payload := range []string{"", strings.Repeat("p", 129)} {
		if err := c.SendInvoice(ctx, &pipeline.Invoice{ChatID: 42, Title: "T", Description: "D", Payload: payload, Stars: 1}); err == nil {
			t.Errorf("a payload of %d bytes was accepted", len(payload))
		}
	}
	if n := len(tg.Calls("sendInvoice")); n != 2 {
		t.Errorf("%d sendInvoice calls, want 2", n)
	}

	// A chat that blocked the bot is gone, as for any message.
	tg.Block(43)
	err := c.SendInvoice(ctx, &pipeline.Invoice{ChatID: 43, Title: "T", Description: "D", Payload: "x", Stars: 1})
	if !errors.Is(err, pipeline.ErrGone) {
		t.Errorf("blocked chat: %v, want ErrGone", err)
	}
}

func TestPreCheckoutAndRefund(t *testing.T) {
	c, tg := fakeClient(t)
	ctx := context.Background()
	if err := c.SendInvoice(ctx, &pipeline.Invoice{ChatID: 42, Title: "T", Description: "D", Payload: "pay-1", Stars: 3}); err != nil {
		t.Fatal(err)
	}
	inv := tg.WaitInvoices(t, 1, 5*time.Second)[0]

	// Refused: the user is told why.
	id, update := tg.PreCheckout(t, inv, fake.User{})
	u, err := DecodeUpdate(update)
	if err != nil || u.PreCheckout == nil || u.PreCheckout.ID != id || u.PreCheckout.From.ID != 42 || u.PreCheckout.Stars != 3 {
		t.Fatalf("decoded %+v (%v)", u, err)
	}
	if err := c.AnswerPreCheckout(ctx, id, "Prices changed: press again"); err != nil {
		t.Fatal(err)
	}
	if a, ok := tg.WaitCheckoutAnswer(t, id); !ok || a.OK || a.ErrorMessage != "Prices changed: press again" {
		t.Errorf("refusal: %+v %v", a, ok)
	}
	if err := c.AnswerPreCheckout(ctx, id, ""); err == nil {
		t.Error("a second answer was taken")
	}

	// Accepted, paid, refunded once.
	id, _ = tg.PreCheckout(t, inv, fake.User{})
	if err := c.AnswerPreCheckout(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	u, err = DecodeUpdate(tg.SuccessfulPayment(t, id))
	if err != nil || u.Message == nil || u.Message.Payment == nil {
		t.Fatalf("decoded %+v (%v)", u, err)
	}
	pay := u.Message.Payment
	if pay.Stars != 3 || pay.Payload != "pay-1" || pay.Currency != "XTR" || pay.ChargeID != tg.Checkouts()[1].ChargeID {
		t.Errorf("payment: %+v", pay)
	}
	if err := c.RefundStars(ctx, 42, pay.ChargeID); err != nil {
		t.Fatal(err)
	}
	err = c.RefundStars(ctx, 42, pay.ChargeID)
	if !errors.Is(err, pipeline.ErrAlreadyRefunded) || errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("second refund: %v, want ErrAlreadyRefunded", err)
	}
	err = c.RefundStars(ctx, 42, "stxnosuchcharge")
	if !errors.Is(err, pipeline.ErrConfig) || errors.Is(err, pipeline.ErrAlreadyRefunded) || !strings.Contains(err.Error(), "CHARGE_NOT_FOUND") {
		t.Errorf("unknown charge: %v, want ErrConfig naming CHARGE_NOT_FOUND", err)
	}
	if r := tg.Refunds(); len(r) != 1 {
		t.Errorf("%d refunds, want 1", len(r))
	}
}

// A refund whose answer is lost is retried; Telegram then answers
// CHARGE_ALREADY_REFUNDED, which the core takes for done.
func TestRefundRetriedAfterALostAnswer(t *testing.T) {
	c, tg := fakeClient(t)
	ctx := context.Background()
	if err := c.SendInvoice(ctx, &pipeline.Invoice{ChatID: 42, Title: "T", Description: "D", Payload: "p", Stars: 1}); err != nil {
		t.Fatal(err)
	}
	p := fakePay(t, tg, c)
	tg.DelayAfter("refundStarPayment", 300*time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := c.RefundStars(short, 42, p); err == nil {
		t.Fatal("the refund's answer was not lost")
	}
	tg.ClearFaults()
	if err := c.RefundStars(ctx, 42, p); !errors.Is(err, pipeline.ErrAlreadyRefunded) {
		t.Errorf("retry: %v, want ErrAlreadyRefunded", err)
	}
	if r := tg.Refunds(); len(r) != 1 {
		t.Errorf("%d refunds, want 1", len(r))
	}
}

// fakePay pays the last invoice and returns the charge.
func fakePay(t *testing.T, tg *fake.Telegram, c *Client) string {
	t.Helper()
	inv := tg.Invoices()
	id, _ := tg.PreCheckout(t, inv[len(inv)-1], fake.User{})
	if err := c.AnswerPreCheckout(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	tg.SuccessfulPayment(t, id)
	return tg.Checkouts()[len(tg.Checkouts())-1].ChargeID
}

func TestDecodeGoldenPayments(t *testing.T) {
	q := golden(t, "update_pre_checkout_query.json")
	if p := q.PreCheckout; p == nil || q.Message != nil || q.Press != nil || p.ID != "1221863455718260941" || p.From.ID != 284516093 ||
		p.From.Language != "ru" || p.Currency != "XTR" || p.Stars != 10 || !strings.HasPrefix(p.Payload, "p1.") {
		t.Errorf("pre_checkout_query: %+v", q.PreCheckout)
	}
	u := golden(t, "update_successful_payment.json")
	m := u.Message
	if m == nil || m.Payment == nil || u.PreCheckout != nil || !m.Private || m.From == nil || m.From.ID != 284516093 || m.File != nil || m.Text != "" {
		t.Fatalf("successful_payment: %+v", m)
	}
	if p := m.Payment; p.Currency != "XTR" || p.Stars != 10 || p.Payload != q.PreCheckout.Payload || !strings.HasPrefix(p.ChargeID, "stx") {
		t.Errorf("payment: %+v", p)
	}
	// A refund's service message tells the core nothing.
	if r := golden(t, "update_refunded_payment.json"); r.Message != nil || r.Press != nil || r.PreCheckout != nil || r.ID == 0 {
		t.Errorf("refunded_payment read as %+v", r)
	}
	// Other messages carry no payment.
	if m := golden(t, "update_photo.json").Message; m.Payment != nil {
		t.Errorf("photo with a payment: %+v", m.Payment)
	}
}

// Long polling with AllowedUpdates gets the pre_checkout_query and the
// payment (Telegram drops the kinds a bot did not ask for).
func TestLongPollReceivesPayments(t *testing.T) {
	c, tg := fakeClient(t)
	ctx := context.Background()
	if err := c.SendInvoice(ctx, &pipeline.Invoice{ChatID: 42, Title: "T", Description: "D", Payload: "p", Stars: 1}); err != nil {
		t.Fatal(err)
	}
	tg.PreCheckoutTimeout = 200 * time.Millisecond // nobody polls while Pay waits
	tg.PushUpdate(`{"edited_message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"text":"x"}}`)
	p := tg.Pay(t, tg.Invoices()[0], fake.User{}, fake.ViaLongPoll)
	if p.Paid {
		t.Fatal("paid without an answer")
	}
	updates, err := c.GetUpdates(ctx, 0, 0, AllowedUpdates)
	if err != nil || len(updates) != 1 || updates[0].PreCheckout == nil || updates[0].PreCheckout.ID != p.Checkout.ID {
		t.Fatalf("getUpdates: %+v %v", updates, err)
	}
}
