package fake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The fake Telegram's payments in Telegram Stars (currency XTR): sendInvoice,
// answerPreCheckoutQuery, refundStarPayment, and a user who pays.
//
// Error texts and where they come from (tdlib/telegram-bot-api Client.cpp,
// "the server"; tdlib/td, "TDLib"; Telegram's documented MTProto errors of
// messages.sendMedia, passed through as "Bad Request: NAME"):
//   - `Bad Request: parameter "title" is required` (and "description",
//     "payload", "currency", "prices", "telegram_payment_charge_id",
//     "error_message" when ok is false): the server's
//     get_required_string_arg. "Bad Request: invalid user_id specified":
//     its get_user_id.
//   - "Bad Request: can't parse prices JSON object", "Bad Request: expected
//     an Array of labeled prices", "Bad Request: there must be at least one
//     price", "Bad Request: can't parse labeled price: LabeledPrice label
//     must be non-empty": the server's get_labeled_price_parts. "Bad
//     Request: total price must be positive": TDLib's InputInvoice.
//   - "Bad Request: STARS_INVOICE_INVALID" (an XTR invoice with a
//     provider_token, more than one price, or tips), "Bad Request:
//     PAYMENT_PROVIDER_INVALID" (another currency without a provider
//     token), "Bad Request: INVOICE_PAYLOAD_INVALID" (a payload over 128
//     bytes), "Bad Request: REPLY_MARKUP_BUY_EMPTY" (a reply_markup without
//     a Pay button), "Bad Request: BUTTON_POS_INVALID" (a Pay button that
//     is not the first button of the first row, or a second one): Telegram's
//     errors; STARS_INVOICE_INVALID as public reports show it for a provider
//     token or tips on an XTR invoice.
//   - A title over 32 or a description over 255 characters answers "Bad
//     Request: invoice title must be 1-32 characters" ("... description
//     must be 1-255 characters"): the documented limits, in the fake's own
//     words (Telegram's error for them is not documented).
//   - "Bad Request: query is too old and response timeout expired or query
//     ID is invalid": QUERY_ID_INVALID as the server rewrites it, for an
//     unknown pre_checkout_query, one answered before, or one answered
//     after PreCheckoutTimeout (10 s: Telegram fails the payment then).
//   - "Bad Request: CHARGE_NOT_FOUND" (an unknown charge, or another user's)
//     and "Bad Request: CHARGE_ALREADY_REFUNDED": Telegram's errors of
//     payments.refundStarsCharge.
//
// Only Stars are modelled: an invoice in another currency with a provider
// token fails the test ("the fake does not model ..."). The
// refunded_payment service message Telegram may send after a refund is not
// sent (photobot ignores it). The payer's balance of Stars is not modelled: every payment
// a bot accepts goes through.

// Invoice is an invoice the bot sent with sendInvoice.
type Invoice struct {
	ChatID    int64
	MessageID int
	ReplyTo   int // the message it replies to; 0 for none
	Title     string
	// Description is the invoice's description, as sent.
	Description string
	Payload     string
	Currency    string // "XTR"
	Stars       int    // total_amount: the one price's amount
	// PayText is the Pay button's text; "" when the invoice has no
	// reply_markup (Telegram then shows its own Pay button).
	PayText string
	// Keyboard is the callback buttons under the Pay button.
	Keyboard Keyboard
	At       time.Time
}

// Checkout is a pre_checkout_query made with PreCheckout or Pay, with the
// bot's answers to it.
type Checkout struct {
	ID       string // pre_checkout_query.id
	From     User
	Currency string
	Stars    int
	Payload  string
	At       time.Time
	// Answers holds every answerPreCheckoutQuery call for the query, failed
	// ones included (Error set): a query answered exactly once has one
	// answer with Error "".
	Answers []CheckoutAnswer
	// ChargeID is the telegram_payment_charge_id of the payment made
	// after an ok answer (SuccessfulPayment); "" until then.
	ChargeID string
}

// CheckoutAnswer is one answerPreCheckoutQuery call.
type CheckoutAnswer struct {
	OK           bool
	ErrorMessage string // what the user is told when OK is false
	At           time.Time
	Error        string // the call's error description; "" when it was answered
}

// Answer is the bot's accepted answer to the query: ok is false when it
// has none (yet).
func (c *Checkout) Answer() (a CheckoutAnswer, ok bool) {
	for _, a := range c.Answers {
		if a.Error == "" {
			return a, true
		}
	}
	return CheckoutAnswer{}, false
}

// Refund is a refundStarPayment call that succeeded.
type Refund struct {
	UserID   int64
	ChargeID string
	Stars    int
	At       time.Time
}

// Via is how the fake hands updates to the bot.
type Via int

const (
	// ViaWebhook posts them to the webhook set with setWebhook
	// (DeliverUpdate).
	ViaWebhook Via = iota
	// ViaLongPoll queues them for getUpdates (PushUpdate).
	ViaLongPoll
)

// Purchase is what Pay did.
type Purchase struct {
	// Checkout is the pre_checkout_query with the bot's answers.
	Checkout Checkout
	// Paid: the bot accepted in time and the successful_payment update
	// was handed over.
	Paid     bool
	ChargeID string
	// Update is the successful_payment update, for Redeliver; nil unless
	// Paid.
	Update json.RawMessage
	// Status is the webhook's answer to Update (ViaWebhook; 0 otherwise).
	Status int
}

type tgPayments struct {
	invoices  []Invoice
	checkouts map[string]*Checkout
	order     []string
	charges   map[string]*tgCharge // by telegram_payment_charge_id
	refunds   []Refund
}

type tgCharge struct {
	userID   int64
	stars    int
	refunded bool
}

// tgInvoice is Message.invoice.
type tgInvoice struct {
	Title          string `json:"title"`
	Description    string `json:"description"`
	StartParameter string `json:"start_parameter"`
	Currency       string `json:"currency"`
	TotalAmount    int    `json:"total_amount"`
}

func init() {
	for _, m := range []tgMethod{
		{"sendInvoice", (*Telegram).sendInvoice},
		{"answerPreCheckoutQuery", (*Telegram).answerPreCheckoutQuery},
		{"refundStarPayment", (*Telegram).refundStarPayment},
	} {
		tgMethods[strings.ToLower(m.name)] = m
	}
}

// ---- test-side API ----

// Invoices returns the invoices the bot sent, in order.
func (t *Telegram) Invoices() []Invoice {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Invoice, len(t.pay.invoices))
	copy(out, t.pay.invoices)
	return out
}

// WaitInvoices waits until the bot sent at least n invoices and returns
// them; on timeout it fails the test, listing every call received.
func (t *Telegram) WaitInvoices(tb testing.TB, n int, timeout time.Duration) []Invoice {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		changed := t.callsChanged.wait()
		if inv := t.Invoices(); len(inv) >= n {
			return inv
		}
		select {
		case <-changed:
		case <-timer.C:
			tb.Fatalf("fake telegram: waited %v for %d invoices, got %d; calls received:\n%s",
				timeout, n, len(t.Invoices()), summarizeCalls(t.Calls("")))
			return nil
		}
	}
}

// Checkouts returns every pre_checkout_query made, in order, with the
// bot's answers.
func (t *Telegram) Checkouts() []Checkout {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Checkout, 0, len(t.pay.order))
	for _, id := range t.pay.order {
		out = append(out, t.checkoutLocked(id))
	}
	return out
}

func (t *Telegram) checkoutLocked(id string) Checkout {
	c := *t.pay.checkouts[id]
	c.Answers = append([]CheckoutAnswer(nil), c.Answers...)
	return c
}

// Refunds returns the refunds the bot made, in order.
func (t *Telegram) Refunds() []Refund {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Refund(nil), t.pay.refunds...)
}

func (p *tgPayments) init() {
	if p.checkouts == nil {
		p.checkouts = map[string]*Checkout{}
		p.charges = map[string]*tgCharge{}
	}
}

// PreCheckout returns the pre_checkout_query update Telegram sends when
// from confirms the payment of inv, and the query's id; the bot has
// PreCheckoutTimeout from now to answer. The query carries inv's Currency,
// Stars and Payload as given: a test may change them to play a stale or
// forged invoice. from.ID 0 is the user of inv's private chat. Post the
// update to the bot or PushUpdate it; Pay does all of it.
func (t *Telegram) PreCheckout(tb testing.TB, inv Invoice, from User) (id string, update json.RawMessage) {
	tb.Helper()
	from = payer(inv, from)
	if from.ID <= 0 {
		tb.Fatalf("fake telegram: PreCheckout: no payer (from.ID) for an invoice in chat %d", inv.ChatID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pay.init()
	for id == "" || t.pay.checkouts[id] != nil {
		id = strconv.FormatUint(randUint63(), 10)
	}
	t.pay.checkouts[id] = &Checkout{ID: id, From: from, Currency: inv.Currency, Stars: inv.Stars, Payload: inv.Payload, At: time.Now()}
	t.pay.order = append(t.pay.order, id)
	update, _ = json.Marshal(map[string]any{"update_id": t.nextUpdateID, "pre_checkout_query": map[string]any{
		"id": id, "from": from, "currency": inv.Currency, "total_amount": inv.Stars, "invoice_payload": inv.Payload}})
	t.nextUpdateID++
	return id, update
}

func payer(inv Invoice, from User) User {
	if from.ID == 0 && inv.ChatID > 0 {
		from.ID = inv.ChatID
	}
	if from.FirstName == "" {
		from.FirstName = "Test"
	}
	return from
}

// WaitCheckoutAnswer waits until the bot answered the query id, or until
// its PreCheckoutTimeout passed; ok is false when it was not answered in
// time (Telegram then fails the payment and tells the user).
func (t *Telegram) WaitCheckoutAnswer(tb testing.TB, id string) (a CheckoutAnswer, ok bool) {
	tb.Helper()
	t.mu.Lock()
	c := t.pay.checkouts[id]
	t.mu.Unlock()
	if c == nil {
		tb.Fatalf("fake telegram: WaitCheckoutAnswer: no pre_checkout_query %q", id)
		return CheckoutAnswer{}, false
	}
	timer := time.NewTimer(time.Until(c.At.Add(t.PreCheckoutTimeout)))
	defer timer.Stop()
	for {
		changed := t.callsChanged.wait()
		t.mu.Lock()
		a, ok = c.Answer()
		t.mu.Unlock()
		if ok {
			return a, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return CheckoutAnswer{}, false
		}
	}
}

// SuccessfulPayment returns the update Telegram sends once the payment the
// bot accepted (answerPreCheckoutQuery ok) went through: a message from
// the payer in their private chat with successful_payment, a fresh
// telegram_payment_charge_id (which refundStarPayment then knows) and the
// next update_id. It fails the test when the query was not accepted or was
// paid already: post the same update again to play a redelivery.
func (t *Telegram) SuccessfulPayment(tb testing.TB, id string) json.RawMessage {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.pay.checkouts[id]
	if c == nil {
		tb.Fatalf("fake telegram: SuccessfulPayment: no pre_checkout_query %q", id)
		return nil
	}
	if a, ok := c.Answer(); !ok || !a.OK || c.ChargeID != "" {
		tb.Fatalf("fake telegram: SuccessfulPayment: pre_checkout_query %s was not accepted, or was paid already (%+v)", id, *c)
		return nil
	}
	c.ChargeID = "stx" + randString(base64URL, 77)
	t.pay.charges[c.ChargeID] = &tgCharge{userID: c.From.ID, stars: c.Stars}
	t.messageSeq++
	msg, _ := json.Marshal(map[string]any{"message_id": t.messageSeq, "from": c.From, "chat": chatOf(c.From.ID),
		"date": time.Now().Unix(), "successful_payment": map[string]any{"currency": c.Currency, "total_amount": c.Stars,
			"invoice_payload": c.Payload, "telegram_payment_charge_id": c.ChargeID,
			"provider_payment_charge_id": ""}}) // no provider for Stars
	t.addUserMessageLocked(msg)
	update, _ := json.Marshal(map[string]any{"update_id": t.nextUpdateID, "message": json.RawMessage(msg)})
	t.nextUpdateID++
	return update
}

// Pay plays from paying inv in the Telegram app: the pre_checkout_query
// handed to the bot via, a wait for the bot's answer (at most
// PreCheckoutTimeout), and, when it accepted, the successful_payment
// update handed over once. from.ID 0 is the user of inv's private chat.
func (t *Telegram) Pay(tb testing.TB, inv Invoice, from User, via Via) Purchase {
	tb.Helper()
	id, update := t.PreCheckout(tb, inv, from)
	t.hand(tb, update, via)
	a, answered := t.WaitCheckoutAnswer(tb, id)
	var p Purchase
	if answered && a.OK {
		p.Update = t.SuccessfulPayment(tb, id)
		p.Paid = true
		p.Status = t.hand(tb, p.Update, via)
	}
	t.mu.Lock()
	p.Checkout = t.checkoutLocked(id)
	t.mu.Unlock()
	p.ChargeID = p.Checkout.ChargeID
	return p
}

// hand gives update to the bot via; it returns the webhook's status.
func (t *Telegram) hand(tb testing.TB, update json.RawMessage, via Via) int {
	tb.Helper()
	if via == ViaLongPoll {
		t.PushUpdate(update)
		return 0
	}
	status, err := t.DeliverUpdate(update)
	if err != nil {
		tb.Fatalf("fake telegram: %v", err)
	}
	return status
}

// Redeliver hands the same update (same update_id; for a payment, the same
// charge) to the bot n times at once, as Telegram may when an answer was
// lost: n concurrent webhook posts (their statuses are returned, 0 for a
// post that failed), or n copies queued for getUpdates, which a poll then
// returns together.
func (t *Telegram) Redeliver(tb testing.TB, update json.RawMessage, n int, via Via) []int {
	tb.Helper()
	statuses := make([]int, n)
	if via == ViaLongPoll {
		for i := 0; i < n; i++ {
			t.PushUpdate(update)
		}
		return statuses
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i], errs[i] = t.DeliverUpdate(update)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		// DeliverUpdate's own errors (no webhook, a kind not allowed) are
		// the test's mistake; a failed post is the bot's, and status 0.
		if err != nil && strings.HasPrefix(err.Error(), "fake telegram: DeliverUpdate:") {
			tb.Fatalf("%v", err)
		}
	}
	return statuses
}

// ---- methods ----

func (t *Telegram) sendInvoice(q *tgRequest) tgAnswer {
	chat, a := chatID(q)
	if a != nil {
		return *a
	}
	inv, a := t.readInvoice(q)
	if a != nil {
		return *a
	}
	kb, a := t.invoiceKeyboard(q)
	if a != nil {
		return *a
	}
	o, a := t.sendOptions(q, false)
	if a != nil {
		return *a
	}
	if a := t.chatRefusal(chat); a != nil {
		return *a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	replyTo, a := t.replyTargetLocked(chat, o)
	if a != nil {
		return *a
	}
	m := t.newMessageLocked(chat)
	m.Invoice = &tgInvoice{Title: inv.Title, Description: inv.Description, StartParameter: q.params["start_parameter"],
		Currency: inv.Currency, TotalAmount: inv.Stars}
	raw := t.storeSentLocked(q, m, replyTo, kb, nil)
	t.chats[chat][m.MessageID].Kind = "invoice"
	inv.ChatID, inv.MessageID, inv.ReplyTo, inv.At = chat, m.MessageID, replyTo, time.Now()
	if len(kb) > 0 {
		inv.PayText, inv.Keyboard = kb[0][0].Text, kb[1:]
		if len(kb[0]) > 1 {
			inv.Keyboard = append(Keyboard{kb[0][1:]}, kb[1:]...)
		}
	}
	t.pay.invoices = append(t.pay.invoices, inv)
	return tgOK(raw)
}

// readInvoice reads and checks the invoice's own parameters, in the order
// the server, TDLib and Telegram check them.
func (t *Telegram) readInvoice(q *tgRequest) (Invoice, *tgAnswer) {
	p := q.params
	for _, k := range []string{"title", "description", "payload", "currency", "prices"} {
		if p[k] == "" {
			return Invoice{}, badp(fmt.Sprintf("parameter %q is required", k))
		}
	}
	total, n, a := readPrices(p["prices"])
	if a != nil {
		return Invoice{}, a
	}
	inv := Invoice{Title: p["title"], Description: p["description"], Payload: p["payload"], Currency: p["currency"], Stars: total}
	switch {
	case inv.Currency == "XTR":
		if p["provider_token"] != "" || n != 1 || (p["max_tip_amount"] != "" && p["max_tip_amount"] != "0") ||
			(p["suggested_tip_amounts"] != "" && p["suggested_tip_amounts"] != "[]") {
			return Invoice{}, badp("STARS_INVOICE_INVALID")
		}
	case p["provider_token"] == "":
		return Invoice{}, badp("PAYMENT_PROVIDER_INVALID")
	default:
		t.tb.Errorf("fake telegram: sendInvoice in %s: the fake does not model payments other than Telegram Stars (XTR)", inv.Currency)
		return Invoice{}, badp("the fake does not model payments other than Telegram Stars")
	}
	switch {
	case len(inv.Payload) > 128:
		return Invoice{}, badp("INVOICE_PAYLOAD_INVALID")
	case utf8.RuneCountInString(inv.Title) > 32:
		return Invoice{}, badp("invoice title must be 1-32 characters")
	case utf8.RuneCountInString(inv.Description) > 255:
		return Invoice{}, badp("invoice description must be 1-255 characters")
	}
	return inv, nil
}

// readPrices reads prices: their total and their number.
func readPrices(s string) (total, n int, a *tgAnswer) {
	var raw any
	if json.Unmarshal([]byte(s), &raw) != nil {
		return 0, 0, badp("can't parse prices JSON object")
	}
	list, ok := raw.([]any)
	if !ok {
		return 0, 0, badp("expected an Array of labeled prices")
	}
	for _, item := range list {
		price, ok := item.(map[string]any)
		if !ok {
			return 0, 0, badp("can't parse labeled price: LabeledPrice must be an Object")
		}
		if label, _ := price["label"].(string); label == "" {
			return 0, 0, badp("can't parse labeled price: LabeledPrice label must be non-empty")
		}
		amount, ok := price["amount"].(float64)
		if !ok {
			return 0, 0, badp(`can't parse labeled price: Can't find field "amount"`)
		}
		total += int(amount)
	}
	switch {
	case len(list) == 0:
		return 0, 0, badp("there must be at least one price")
	case total <= 0:
		return 0, 0, badp("total price must be positive")
	}
	return total, len(list), nil
}

// invoiceKeyboard reads an invoice's reply_markup, whose first button must
// be its one Pay button.
func (t *Telegram) invoiceKeyboard(q *tgRequest) (Keyboard, *tgAnswer) {
	kb, a := t.inlineKeyboard(q)
	if a != nil || q.params["reply_markup"] == "" {
		return kb, a
	}
	pays := 0
	for i, row := range kb {
		for j, b := range row {
			if b.Pay {
				pays++
				if i != 0 || j != 0 || pays > 1 {
					return nil, badp("BUTTON_POS_INVALID")
				}
			}
		}
	}
	if pays == 0 {
		return nil, badp("REPLY_MARKUP_BUY_EMPTY")
	}
	return kb, nil
}

// payButton reports whether b is a Pay button, as the server reads it
// (a url, then callback_data, then callback_game come first), in a
// sendInvoice: Pay buttons go only on invoices.
func payButton(q *tgRequest, b map[string]json.RawMessage, data string) bool {
	_, pay := b["pay"]
	_, game := b["callback_game"]
	url, _ := jsonString(b["url"])
	return pay && !game && url == "" && data == "" && q.call.Method == "sendInvoice"
}

func (t *Telegram) answerPreCheckoutQuery(q *tgRequest) tgAnswer {
	ans := CheckoutAnswer{OK: toBool(q.params["ok"]), ErrorMessage: q.params["error_message"], At: time.Now()}
	if !ans.OK && ans.ErrorMessage == "" {
		return tgBad(`parameter "error_message" is required`)
	}
	invalid := tgBad("query is too old and response timeout expired or query ID is invalid")
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.pay.checkouts[q.params["pre_checkout_query_id"]]
	if c == nil {
		return invalid
	}
	a := tgOK(true)
	if _, answered := c.Answer(); answered || ans.At.Sub(c.At) > t.PreCheckoutTimeout {
		a = invalid
		ans.Error = a.desc
	}
	c.Answers = append(c.Answers, ans)
	return a
}

// toBool reads a boolean parameter as the server does.
func toBool(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "true" || s == "yes" || s == "1"
}

func (t *Telegram) refundStarPayment(q *tgRequest) tgAnswer {
	user, err := strconv.ParseInt(q.params["user_id"], 10, 64)
	if err != nil || user <= 0 {
		return tgBad("invalid user_id specified")
	}
	id := q.params["telegram_payment_charge_id"]
	if id == "" {
		return tgBad(`parameter "telegram_payment_charge_id" is required`)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pay.init()
	c := t.pay.charges[id]
	switch {
	case c == nil || c.userID != user:
		return tgBad("CHARGE_NOT_FOUND")
	case c.refunded:
		return tgBad("CHARGE_ALREADY_REFUNDED")
	}
	c.refunded = true
	t.pay.refunds = append(t.pay.refunds, Refund{UserID: user, ChargeID: id, Stars: c.stars, At: time.Now()})
	return tgOK(true)
}
