package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/testenv"
)

// Telegram Stars end to end: the fake Telegram's invoices and payments,
// MinIO's conditional writes, the fake Replicate's predictions.

const payAdmin = 4999

// payEnv is a bot that charges 10 Stars a photo, none free, with payAdmin
// as its admin.
func payEnv(t *testing.T, vars ...func(map[string]string)) *testenv.Env {
	t.Helper()
	e := testenv.New(t, append([]func(map[string]string){func(v map[string]string) {
		v["PRICE_STARS"] = "10"
		v["FREE_PER_DAY"] = "0"
		v["STAR_PACKS"] = "50,150"
		v["ADMIN_USERS"] = fmt.Sprint(payAdmin)
	}}, vars...)...)
	if err := admin.Setup(context.Background(), e.Bot, io.Discard); err != nil {
		t.Fatal(err)
	}
	return e
}

var textSeq atomic.Int64

// command delivers a text message from user in their private chat, as
// Telegram does, and returns the bot's answer to it.
func command(t *testing.T, e *testenv.Env, user int64, lang, text string) string {
	t.Helper()
	n := textSeq.Add(1)
	id := e.TG.NewMessageID()
	deliver(t, e, map[string]any{"update_id": 900000000 + n, "message": map[string]any{"message_id": id, "date": e.Clock.Now().Unix(),
		"from": map[string]any{"id": user, "is_bot": false, "first_name": "Anna", "language_code": lang},
		"chat": map[string]any{"id": user, "type": "private"}, "text": text}})
	var answer string
	e.Eventually("the answer to "+text, wait, func() bool {
		for _, m := range e.TG.Messages(user) {
			if m.FromBot && m.ReplyTo == id {
				answer = m.Text
				return true
			}
		}
		return false
	})
	return answer
}

// balance reads the user's Stars from the bucket.
func balance(t *testing.T, e *testenv.Env, user int64) int {
	t.Helper()
	data, _, err := e.Store.Get(context.Background(), fmt.Sprintf("accounts/%d.json", user))
	var a struct{ Stars int }
	if err != nil || json.Unmarshal(data, &a) != nil {
		t.Fatalf("balance of %d: %v", user, err)
	}
	return a.Stars
}

// texts are the bot's messages in chat, in order.
func texts(e *testenv.Env, chat int64) []string {
	var out []string
	for _, m := range e.TG.Messages(chat) {
		if m.FromBot {
			out = append(out, m.Text)
		}
	}
	return out
}

// told waits for a message of the bot in chat that contains s.
func told(t *testing.T, e *testenv.Env, chat int64, s string) {
	t.Helper()
	e.Eventually(fmt.Sprintf("a message with %q", s), wait, func() bool {
		for _, m := range texts(e, chat) {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	})
}

// The whole story of a paying user: a photo without Stars gets an
// invoice; paid (and the payment reported three times at once), the photo
// starts by itself, once; a failed prediction gives its price back; an
// admin refunds the payment.
func TestPaidPhotoStartsByItselfOnce(t *testing.T) {
	t.Parallel()
	e := payEnv(t)
	const user = 4001
	p := e.NewPhoto(user)
	p.Language = "en"
	if r := e.Send(p); r.Status != http.StatusOK || len(e.RP.Predictions()) != 0 {
		t.Fatalf("photo: %d %s; %d predictions", r.Status, r.Body, len(e.RP.Predictions()))
	}
	inv := e.TG.WaitInvoices(t, 1, wait)[0]
	if inv.ChatID != user || inv.ReplyTo != p.MessageID || inv.Currency != "XTR" || inv.Stars != 10 ||
		strings.Join(inv.Keyboard.Data(), ",") != "b:50,b:150" {
		t.Errorf("invoice %+v", inv)
	}
	if n := len(e.TG.Calls("getFile")); n != 0 || len(e.Keys("images/")) != 0 {
		t.Errorf("downloaded before paying: %d getFile, images %v", n, e.Keys("images/"))
	}

	paid := e.TG.Pay(t, inv, fake.User{LanguageCode: "en"}, fake.ViaWebhook)
	if a, ok := paid.Checkout.Answer(); !ok || !a.OK || !paid.Paid || paid.Status != http.StatusOK {
		t.Fatalf("payment: %+v", paid)
	}
	pr := e.RP.WaitPredictions(t, 1, wait)[0]
	for _, status := range e.TG.Redeliver(t, paid.Update, 3, fake.ViaWebhook) {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("redelivery answered %d", status)
		}
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	e.Eventually("the task deleted", wait, func() bool { return e.Task(pr.ID) == nil })
	if n := len(e.RP.Predictions()); n != 1 || balance(t, e, user) != 0 {
		t.Errorf("%d predictions, balance %d; want 1 and 0 (paid 10, spent 10)", n, balance(t, e, user))
	}
	if got := pr.Input["image"].(string); !strings.Contains(got, "/images/input/") {
		t.Errorf("the model read %q", got)
	}

	// A second photo, paid for, whose prediction fails: the price comes
	// back, and the user reads it.
	e.RP.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
		return fake.StatusFailed, nil, "CUDA out of memory"
	})
	p2 := e.NewPhoto(user)
	p2.Language = "en"
	e.Send(p2)
	inv2 := e.TG.WaitInvoices(t, 2, wait)[1]
	if paid := e.TG.Pay(t, inv2, fake.User{LanguageCode: "en"}, fake.ViaWebhook); !paid.Paid {
		t.Fatalf("second payment: %+v", paid)
	}
	told(t, e, user, "10 Stars returned to your balance (10 ⭐ on your balance)")
	if got := balance(t, e, user); got != 10 {
		t.Errorf("balance %d after the failure, want 10", got)
	}

	// The admin refunds the first payment: once at Telegram, taken off the
	// balance (below zero), the user told.
	for i, want := range []string{"Refunded 10 ⭐ to user 4001; their balance is now 0 ⭐.", "This payment was refunded before."} {
		if got := command(t, e, payAdmin, "en", "/refund "+paid.ChargeID); got != want {
			t.Errorf("/refund %d: %q, want %q", i+1, got, want)
		}
	}
	if refunds := e.TG.Refunds(); len(refunds) != 1 || refunds[0].ChargeID != paid.ChargeID || refunds[0].UserID != user {
		t.Errorf("refunds at Telegram: %+v", refunds)
	}
	told(t, e, user, "A payment was refunded to you: −10 Stars. Balance: 0 ⭐.")
}

// pre_checkout_query: an invoice whose price changed since is refused,
// in the user's language, within Telegram's 10 s.
func TestPreCheckoutRefusesAChangedPrice(t *testing.T) {
	t.Parallel()
	e := payEnv(t)
	const user = 4002
	p := e.NewPhoto(user)
	e.Send(p)
	inv := e.TG.WaitInvoices(t, 1, wait)[0]
	inv.Stars = 5 // the price the user saw is not today's
	paid := e.TG.Pay(t, inv, fake.User{LanguageCode: "ru"}, fake.ViaWebhook)
	a, ok := paid.Checkout.Answer()
	if !ok || a.OK || !strings.Contains(a.ErrorMessage, "Цена изменилась") || paid.Paid {
		t.Errorf("answer %+v (answered %v), paid %v; want a refusal in Russian", a, ok, paid.Paid)
	}
	if len(e.RP.Predictions()) != 0 {
		t.Error("a prediction without a payment")
	}
}

// /buy's packs, a balance, then photos that run at once, each holding its
// price; /balance tells it all.
func TestPackThenPhotos(t *testing.T) {
	t.Parallel()
	e := payEnv(t)
	const user = 4003
	if got := command(t, e, user, "en", "/buy"); !strings.Contains(got, "Top up") {
		t.Fatalf("/buy: %q", got)
	}
	menu := botMessage(t, e, user, "b:50")
	deliver(t, e, e.TG.Press(t, user, menu.ID, "b:50", fake.User{ID: user, LanguageCode: "en"}))
	inv := e.TG.WaitInvoices(t, 1, wait)[0]
	if inv.Stars != 50 || inv.ReplyTo != 0 {
		t.Fatalf("pack invoice %+v", inv)
	}
	paid := e.TG.Pay(t, inv, fake.User{LanguageCode: "en"}, fake.ViaWebhook)
	told(t, e, user, "Payment received: +50 Stars. Balance: 50 ⭐.")

	p := e.NewPhoto(user)
	p.Language = "en"
	if r := e.Send(p); !strings.Contains(fmt.Sprint(r.JSON()["text"]), "−10 ⭐, 40 ⭐ left") {
		t.Errorf("paid photo answered %s", r.Body)
	}
	e.TG.WaitCalls(t, "sendPhoto", 1, wait)
	got := command(t, e, user, "en", "/balance")
	for _, want := range []string{"Balance: 40 ⭐", "A photo costs 10 Stars.", "+50 ⭐ (" + paid.ChargeID + ")"} {
		if !strings.Contains(got, want) {
			t.Errorf("/balance %q lacks %q", got, want)
		}
	}
}
