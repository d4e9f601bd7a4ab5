package fake

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestGoldenTelegramPayments checks the payment goldens, and that the fake
// writes the same shapes (an invoice message, a pre_checkout_query, a
// successful_payment) and the same refund error.
func TestGoldenTelegramPayments(t *testing.T) {
	var q struct {
		Query struct {
			ID      string `json:"id"`
			From    User   `json:"from"`
			Cur     string `json:"currency"`
			Total   int    `json:"total_amount"`
			Payload string `json:"invoice_payload"`
		} `json:"pre_checkout_query"`
	}
	loadGolden(t, "telegram/update_pre_checkout_query.json", &q)
	var pay struct {
		Message struct {
			Payment map[string]any `json:"successful_payment"`
		} `json:"message"`
	}
	loadGolden(t, "telegram/update_successful_payment.json", &pay)
	if q.Query.ID == "" || q.Query.From.ID == 0 || q.Query.Cur != "XTR" || q.Query.Total < 1 || q.Query.Payload == "" ||
		pay.Message.Payment["invoice_payload"] != q.Query.Payload || pay.Message.Payment["total_amount"] != float64(q.Query.Total) {
		t.Errorf("update_pre_checkout_query.json, update_successful_payment.json: %+v %+v", q, pay)
	}
	var sent struct {
		Result struct {
			Invoice map[string]any `json:"invoice"`
			Markup  struct {
				Keyboard [][]map[string]any `json:"inline_keyboard"`
			} `json:"reply_markup"`
		} `json:"result"`
	}
	loadGolden(t, "telegram/answer_send_invoice.json", &sent)
	if kb := sent.Result.Markup.Keyboard; len(kb) < 2 || len(kb[0]) != 1 || kb[0][0]["pay"] != true ||
		sent.Result.Invoice["currency"] != "XTR" || sent.Result.Invoice["start_parameter"] != "" {
		t.Errorf("answer_send_invoice.json: %+v", sent.Result)
	}

	// The fake, in the same story: the photo, the invoice replying to it,
	// the query, the payment, two refunds.
	tg := NewTelegram(t, testToken)
	var golden map[string]any
	loadGolden(t, "telegram/update_photo.json", &golden)
	raw, _ := json.Marshal(golden["message"])
	tg.AddUserMessage(raw)
	var gsent map[string]any
	loadGolden(t, "telegram/answer_send_invoice.json", &gsent)
	inv := gsent["result"].(map[string]any)["invoice"].(map[string]any)
	_, a, body := callJSON(t, tg, testToken, "sendInvoice", map[string]any{"chat_id": 284516093, "title": inv["title"],
		"description": inv["description"], "payload": q.Query.Payload, "currency": "XTR",
		"prices":           []map[string]any{{"label": inv["title"], "amount": inv["total_amount"]}},
		"reply_markup":     map[string]any{"inline_keyboard": sent.Result.Markup.Keyboard},
		"reply_parameters": map[string]any{"message_id": 1473, "allow_sending_without_reply": true}})
	if !a.OK {
		t.Fatalf("sendInvoice: %s", body)
	}
	// The keyboard comes back as sent (sameShape would compare every row
	// with the Pay button's).
	got := decodeAny(t, body)
	gotKB := got["result"].(map[string]any)["reply_markup"]
	wantKB := gsent["result"].(map[string]any)["reply_markup"]
	if !reflect.DeepEqual(gotKB, wantKB) {
		t.Errorf("the fake's invoice keyboard: %v, want %v", gotKB, wantKB)
	}
	delete(got["result"].(map[string]any), "reply_markup")
	if extra := sameShape("answer", got, gsent); len(extra) > 0 {
		t.Errorf("the fake's sendInvoice answer has fields the golden lacks: %v", extra)
	}
	id, update := tg.PreCheckout(t, tg.Invoices()[0], User{})
	loadGolden(t, "telegram/update_pre_checkout_query.json", &golden)
	if extra := sameShape("update", decodeAny(t, update), golden); len(extra) > 0 {
		t.Errorf("the fake's pre_checkout_query has fields the golden lacks: %v", extra)
	}
	callJSON(t, tg, testToken, "answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": id, "ok": true})
	paid := tg.SuccessfulPayment(t, id)
	loadGolden(t, "telegram/update_successful_payment.json", &golden)
	if extra := sameShape("update", decodeAny(t, paid), golden); len(extra) > 0 {
		t.Errorf("the fake's successful_payment has fields the golden lacks: %v", extra)
	}
	charge := tg.Checkouts()[0].ChargeID
	refund := map[string]any{"user_id": 284516093, "telegram_payment_charge_id": charge}
	if _, a, _ := callJSON(t, tg, testToken, "refundStarPayment", refund); !a.OK {
		t.Fatalf("refund: %s", a.Description)
	}
	_, _, body = callJSON(t, tg, testToken, "refundStarPayment", refund)
	var want map[string]any
	loadGolden(t, "telegram/error_charge_already_refunded.json", &want)
	if got := decodeAny(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("the fake's answer differs from error_charge_already_refunded.json: %v", got)
	}
}
