package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// invoiceParams is a valid Stars invoice for chat 42.
func invoiceParams(change func(p map[string]any)) map[string]any {
	p := map[string]any{"chat_id": 42, "title": "Upscale", "description": "One photo, upscaled 4x", "payload": "p1.sig",
		"currency": "XTR", "prices": []map[string]any{{"label": "Upscale", "amount": 10}},
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{
			{{"text": "Pay ⭐10", "pay": true}}, {{"text": "50 ⭐", "callback_data": "buy:50"}}}}}
	if change != nil {
		change(p)
	}
	return p
}

func TestSendInvoiceStarsRules(t *testing.T) {
	tg := NewTelegram(t, testToken)
	for _, tc := range []struct {
		name   string
		change func(p map[string]any)
		want   string
	}{
		{"no title", func(p map[string]any) { delete(p, "title") }, `Bad Request: parameter "title" is required`},
		{"no payload", func(p map[string]any) { p["payload"] = "" }, `Bad Request: parameter "payload" is required`},
		{"no prices", func(p map[string]any) { p["prices"] = []any{} }, "Bad Request: there must be at least one price"},
		{"zero price", func(p map[string]any) { p["prices"] = []map[string]any{{"label": "x", "amount": 0}} },
			"Bad Request: total price must be positive"},
		{"two prices", func(p map[string]any) {
			p["prices"] = []map[string]any{{"label": "a", "amount": 5}, {"label": "b", "amount": 5}}
		}, "Bad Request: STARS_INVOICE_INVALID"},
		{"a provider token", func(p map[string]any) { p["provider_token"] = "284685063:TEST:abc" }, "Bad Request: STARS_INVOICE_INVALID"},
		{"tips", func(p map[string]any) { p["max_tip_amount"] = 5 }, "Bad Request: STARS_INVOICE_INVALID"},
		{"another currency, no token", func(p map[string]any) { p["currency"] = "USD" }, "Bad Request: PAYMENT_PROVIDER_INVALID"},
		{"payload of 129 bytes", func(p map[string]any) { p["payload"] = strings.Repeat("p", 129) }, "Bad Request: INVOICE_PAYLOAD_INVALID"},
		{"title of 33", func(p map[string]any) { p["title"] = strings.Repeat("я", 33) }, "Bad Request: invoice title must be 1-32 characters"},
		{"description of 256", func(p map[string]any) { p["description"] = strings.Repeat("d", 256) },
			"Bad Request: invoice description must be 1-255 characters"},
		{"no pay button", func(p map[string]any) {
			p["reply_markup"] = map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "50", "callback_data": "buy:50"}}}}
		}, "Bad Request: REPLY_MARKUP_BUY_EMPTY"},
		{"pay button second", func(p map[string]any) {
			p["reply_markup"] = map[string]any{"inline_keyboard": [][]map[string]any{
				{{"text": "50", "callback_data": "buy:50"}, {"text": "Pay", "pay": true}}}}
		}, "Bad Request: BUTTON_POS_INVALID"},
	} {
		status, a, _ := callJSON(t, tg, testToken, "sendInvoice", invoiceParams(tc.change))
		if status != 400 || a.Description != tc.want {
			t.Errorf("%s: %d %q, want 400 %q", tc.name, status, a.Description, tc.want)
		}
	}
	if n := len(tg.Invoices()); n != 0 {
		t.Errorf("%d refused invoices recorded", n)
	}

	// A valid one: 128 bytes of payload, 32 characters of title; the
	// provider token may be sent empty.
	status, a, _ := callJSON(t, tg, testToken, "sendInvoice", invoiceParams(func(p map[string]any) {
		p["payload"], p["title"], p["provider_token"] = strings.Repeat("p", 128), strings.Repeat("я", 32), ""
	}))
	if status != 200 {
		t.Fatalf("valid invoice: %d %s", status, a.Description)
	}
	var m struct {
		MessageID int                        `json:"message_id"`
		Invoice   map[string]json.RawMessage `json:"invoice"`
		Markup    struct {
			Keyboard [][]map[string]any `json:"inline_keyboard"`
		} `json:"reply_markup"`
	}
	if err := json.Unmarshal(a.Result, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.Invoice["currency"]) != `"XTR"` || string(m.Invoice["total_amount"]) != "10" || string(m.Invoice["start_parameter"]) != `""` ||
		len(m.Invoice) != 5 || m.Markup.Keyboard[0][0]["pay"] != true || m.Markup.Keyboard[1][0]["callback_data"] != "buy:50" {
		t.Errorf("sent invoice: %s", a.Result)
	}
	inv := tg.WaitInvoices(t, 1, time.Second)[0]
	if inv.ChatID != 42 || inv.MessageID != m.MessageID || inv.Stars != 10 || inv.PayText != "Pay ⭐10" ||
		len(inv.Keyboard) != 1 || inv.Keyboard[0][0].CallbackData != "buy:50" {
		t.Errorf("Invoices()[0] = %+v", inv)
	}
	// Its pack buttons can be pressed; a Pay button elsewhere is refused.
	tg.Press(t, 42, m.MessageID, "buy:50", User{})
	rec := &recTB{TB: t}
	strict := NewTelegram(rec, testToken)
	status, a, _ = callJSON(t, strict, testToken, "sendMessage", map[string]any{"chat_id": 42, "text": "x",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "Pay", "pay": true}}}}})
	if status != 400 || len(rec.failures()) != 1 {
		t.Errorf("a Pay button on a text message: %d %q, failures %q", status, a.Description, rec.failures())
	}
}

// payingBot is a bot behind a webhook: it answers each pre_checkout_query
// with answer (a JSON fragment) as a Bot API call, and keeps the
// successful_payment updates it gets.
type payingBot struct {
	mu       sync.Mutex
	payments []string // raw updates
}

func newPayingBot(t *testing.T, tg *Telegram, answer string) *payingBot {
	b := &payingBot{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var u struct {
			PreCheckout *struct {
				ID string `json:"id"`
			} `json:"pre_checkout_query"`
		}
		_ = json.Unmarshal(body, &u)
		if u.PreCheckout != nil {
			callJSON(t, tg, testToken, "answerPreCheckoutQuery", json.RawMessage(`{"pre_checkout_query_id":"`+u.PreCheckout.ID+`",`+answer+`}`))
			return
		}
		b.mu.Lock()
		b.payments = append(b.payments, string(body))
		b.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	if status, a, _ := callJSON(t, tg, testToken, "setWebhook", map[string]any{"url": srv.URL,
		"allowed_updates": []string{"message", "callback_query", "pre_checkout_query"}}); status != 200 {
		t.Fatalf("setWebhook: %s", a.Description)
	}
	return b
}

func TestPayByWebhookAndRefund(t *testing.T) {
	tg := NewTelegram(t, testToken)
	bot := newPayingBot(t, tg, `"ok":true`)
	callJSON(t, tg, testToken, "sendInvoice", invoiceParams(nil))
	inv := tg.Invoices()[0]

	p := tg.Pay(t, inv, User{LanguageCode: "ru"}, ViaWebhook)
	if a, ok := p.Checkout.Answer(); !p.Paid || p.Status != 200 || !ok || !a.OK || !strings.HasPrefix(p.ChargeID, "stx") {
		t.Fatalf("Pay: %+v", p)
	}
	var u struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			From    User `json:"from"`
			Chat    tgChat
			Payment struct {
				Currency string `json:"currency"`
				Total    int    `json:"total_amount"`
				Payload  string `json:"invoice_payload"`
				Charge   string `json:"telegram_payment_charge_id"`
			} `json:"successful_payment"`
		} `json:"message"`
	}
	if err := json.Unmarshal(p.Update, &u); err != nil {
		t.Fatal(err)
	}
	if pm := u.Message.Payment; pm.Currency != "XTR" || pm.Total != 10 || pm.Payload != "p1.sig" || pm.Charge != p.ChargeID ||
		u.Message.From.ID != 42 || u.Message.From.LanguageCode != "ru" {
		t.Errorf("successful_payment update: %s", p.Update)
	}

	// The same update three times at once: same update_id, same charge.
	if s := tg.Redeliver(t, p.Update, 3, ViaWebhook); len(s) != 3 || s[0] != 200 || s[1] != 200 || s[2] != 200 {
		t.Errorf("Redeliver: %v", s)
	}
	bot.mu.Lock()
	if len(bot.payments) != 4 || strings.Count(strings.Join(bot.payments, "\n"), string(p.Update)) != 4 {
		t.Errorf("the bot got %q, want 4 times %s", bot.payments, p.Update)
	}
	bot.mu.Unlock()

	refund := func(user int64, charge string) (int, string) {
		status, a, _ := callJSON(t, tg, testToken, "refundStarPayment", map[string]any{"user_id": user, "telegram_payment_charge_id": charge})
		return status, a.Description
	}
	for _, tc := range []struct {
		user   int64
		charge string
		status int
		want   string
	}{
		{42, "stxunknown", 400, "Bad Request: CHARGE_NOT_FOUND"},
		{43, p.ChargeID, 400, "Bad Request: CHARGE_NOT_FOUND"},
		{0, p.ChargeID, 400, "Bad Request: invalid user_id specified"},
		{42, p.ChargeID, 200, ""},
		{42, p.ChargeID, 400, "Bad Request: CHARGE_ALREADY_REFUNDED"},
	} {
		if status, desc := refund(tc.user, tc.charge); status != tc.status || desc != tc.want {
			t.Errorf("refund %d %s: %d %q, want %d %q", tc.user, tc.charge, status, desc, tc.status, tc.want)
		}
	}
	if r := tg.Refunds(); len(r) != 1 || r[0].ChargeID != p.ChargeID || r[0].UserID != 42 || r[0].Stars != 10 {
		t.Errorf("Refunds() = %+v", r)
	}
}

func TestPreCheckoutRefusedOrLate(t *testing.T) {
	tg := NewTelegram(t, testToken)
	bot := newPayingBot(t, tg, `"ok":false,"error_message":"Prices changed: press again"`)
	callJSON(t, tg, testToken, "sendInvoice", invoiceParams(nil))
	inv := tg.Invoices()[0]
	p := tg.Pay(t, inv, User{}, ViaWebhook)
	if a, ok := p.Checkout.Answer(); p.Paid || p.Update != nil || !ok || a.OK || a.ErrorMessage != "Prices changed: press again" {
		t.Errorf("refused: %+v", p)
	}
	bot.mu.Lock()
	if len(bot.payments) != 0 {
		t.Errorf("a refused payment reached the bot: %q", bot.payments)
	}
	bot.mu.Unlock()

	answer := func(id string, params map[string]any) (int, string) {
		params["pre_checkout_query_id"] = id
		status, a, _ := callJSON(t, tg, testToken, "answerPreCheckoutQuery", params)
		return status, a.Description
	}
	const tooOld = "Bad Request: query is too old and response timeout expired or query ID is invalid"
	if status, desc := answer(p.Checkout.ID, map[string]any{"ok": true}); status != 400 || desc != tooOld {
		t.Errorf("second answer: %d %q", status, desc)
	}
	if status, desc := answer("123", map[string]any{"ok": true}); status != 400 || desc != tooOld {
		t.Errorf("unknown query: %d %q", status, desc)
	}

	// Long polling, no answer: the window closes, a late answer is refused.
	callJSON(t, tg, testToken, "deleteWebhook", nil)
	tg.PreCheckoutTimeout = 300 * time.Millisecond
	id, update := tg.PreCheckout(t, inv, User{ID: 7})
	tg.PushUpdate(update)
	_, a, _ := callJSON(t, tg, testToken, "getUpdates", map[string]any{"allowed_updates": []string{"pre_checkout_query"}})
	if !strings.Contains(string(a.Result), `"pre_checkout_query":{"currency":"XTR","from":{"id":7,`) {
		t.Errorf("getUpdates: %s", a.Result)
	}
	if status, desc := answer(id, map[string]any{"ok": false}); status != 400 || desc != `Bad Request: parameter "error_message" is required` {
		t.Errorf("ok=false without a message: %d %q", status, desc)
	}
	if _, ok := tg.WaitCheckoutAnswer(t, id); ok {
		t.Fatal("answered without an answer")
	}
	if status, desc := answer(id, map[string]any{"ok": true}); status != 400 || desc != tooOld {
		t.Errorf("late answer: %d %q", status, desc)
	}
	if c := tg.Checkouts()[1]; len(c.Answers) != 1 || c.Answers[0].Error != tooOld || c.ChargeID != "" {
		t.Errorf("Checkouts()[1] = %+v", c)
	}
}

// By long polling: the bot's poll gets the query, its answer lets the
// payment through, and redelivered copies come in one poll.
func TestPayByLongPoll(t *testing.T) {
	tg := NewTelegram(t, testToken)
	callJSON(t, tg, testToken, "sendInvoice", invoiceParams(nil))
	type polled struct {
		UpdateID int64 `json:"update_id"`
		Query    *struct {
			ID string `json:"id"`
		} `json:"pre_checkout_query"`
		Message json.RawMessage `json:"message"`
	}
	poll := func(offset int64) []polled {
		_, a, _ := callJSON(t, tg, testToken, "getUpdates", map[string]any{"offset": offset, "timeout": 5,
			"allowed_updates": []string{"message", "callback_query", "pre_checkout_query"}})
		var got []polled
		if err := json.Unmarshal(a.Result, &got); err != nil {
			t.Error(err)
		}
		return got
	}
	done := make(chan int64)
	go func() { // the bot
		got := poll(0)
		if len(got) == 1 && got[0].Query != nil {
			callJSON(t, tg, testToken, "answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": got[0].Query.ID, "ok": true})
			done <- got[0].UpdateID + 1
			return
		}
		t.Errorf("first poll: %+v", got)
		done <- 0
	}()
	p := tg.Pay(t, tg.Invoices()[0], User{}, ViaLongPoll)
	offset := <-done
	if !p.Paid || p.Status != 0 {
		t.Fatalf("Pay: %+v", p)
	}
	got := poll(offset)
	if len(got) != 1 || !strings.Contains(string(got[0].Message), p.ChargeID) {
		t.Fatalf("second poll: %+v", got)
	}
	tg.Redeliver(t, p.Update, 3, ViaLongPoll)
	again := poll(offset) // not confirmed yet: the first copy and three more
	if len(again) != 4 || again[1].UpdateID != got[0].UpdateID || again[3].UpdateID != got[0].UpdateID {
		t.Errorf("after Redeliver: %d updates %+v", len(again), again)
	}
}
