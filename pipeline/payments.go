package pipeline

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Telegram Stars, exactly once, on the bucket alone.
//
// An invoice's payload (at most 128 bytes) is a signed reference: to a
// remembered photo (invoices.go) or to a pack of Stars. Before a payment
// Telegram asks (pre_checkout_query) and the core answers at once, from
// the payload alone: no store request stands between the user and the
// 10 s Telegram waits. A payment made (successful_payment) is recorded
// under its charge id with If-None-Match, then credited to the balance by
// compare-and-swap, named by the same charge id; then the remembered
// photo starts, once, under a claim named by the invoice. A crash between
// any two of these is mended by Telegram's redelivery of the update: each
// step finds what the crashed request did and does the rest.

// priceOf is what effect e costs user u, in Stars: 0 when payments are
// off, the effect is free, or the user is an admin.
func (b *Bot) priceOf(u *User, e *Effect) int {
	if b.pay == nil || u == nil || e.Price <= 0 || b.opt.Admins.Has(u) {
		return 0
	}
	return e.Price
}

// ref is what an invoice's payload names.
type ref struct {
	user    int64
	invoice string // a remembered photo (invoiceKey), or "" for a pack
	effect  string // the photo's effect
	stars   int    // a pack's Stars
}

// Payload kinds: "p.<user>.<invoice>.<effect>.<mac>" and
// "k.<user>.<stars>.<mac>". Effect ids and invoice ids have no dots.
const (
	payloadPhoto = "p"
	payloadPack  = "k"
)

func (b *Bot) payload(r ref) string {
	body := strings.Join([]string{payloadPack, strconv.FormatInt(r.user, 10), strconv.Itoa(r.stars)}, ".")
	if r.invoice != "" {
		body = strings.Join([]string{payloadPhoto, strconv.FormatInt(r.user, 10), r.invoice, r.effect}, ".")
	}
	return body + "." + b.mac(body)
}

// mac signs a payload: HMAC-SHA256 with PaySecret, 128 bits of it.
func (b *Bot) mac(body string) string {
	m := hmac.New(sha256.New, b.opt.PaySecret)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// parsePayload reads a payload this bot signed; ok is false for any
// other.
func (b *Bot) parsePayload(s string) (r ref, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 || len(b.opt.PaySecret) == 0 || !hmac.Equal([]byte(s[i+1:]), []byte(b.mac(s[:i]))) {
		return ref{}, false
	}
	f := strings.Split(s[:i], ".")
	if len(f) < 3 {
		return ref{}, false
	}
	user, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return ref{}, false
	}
	switch {
	case f[0] == payloadPhoto && len(f) == 4:
		return ref{user: user, invoice: f[2], effect: f[3]}, true
	case f[0] == payloadPack && len(f) == 3:
		stars, err := strconv.Atoi(f[2])
		return ref{user: user, stars: stars}, err == nil
	}
	return ref{}, false
}

// preCheckout answers Telegram's question before a payment, within its
// 10 s: yes only for an invoice this bot issued to this user, at today's
// price, to a user the bot serves.
func (b *Bot) preCheckout(ctx context.Context, q *PreCheckout) (*Response, error) {
	log := b.log.With("user_id", q.From.ID, "stars", q.Stars)
	if b.pay == nil {
		log.Warn("a pre-checkout query, but payments are off (no PRICE_STARS): Telegram refuses the payment after 10 s")
		return nil, nil
	}
	refusal := b.refusal(q, b.wordsFor(q.From.Language))
	cctx, cancel := b.call(ctx)
	defer cancel()
	if err := b.pay.AnswerPreCheckout(cctx, q.ID, refusal); err != nil {
		log.Warn("pre-checkout query not answered", "err", err) // too late, or answered already
		return nil, nil
	}
	if refusal != "" {
		log.Info("payment refused", "reason", refusal)
	}
	return nil, nil
}

// refusal is why a payment may not go ahead, in the user's words; "" when
// it may.
func (b *Bot) refusal(q *PreCheckout, w *words) string {
	if b.opt.Allowed != nil && !b.opt.Allowed.Has(&q.From) {
		return fmt.Sprintf(w.NotAllowed, q.From.ID)
	}
	r, ok := b.parsePayload(q.Payload)
	if !ok || r.user != q.From.ID || q.Currency != "XTR" {
		return w.InvoiceStale
	}
	if r.invoice == "" {
		if r.stars != q.Stars || !slices.Contains(b.opt.StarPacks, q.Stars) {
			return w.PricesChanged
		}
		return ""
	}
	if e := b.effect[r.effect]; e == nil || b.priceOf(&q.From, e) != q.Stars {
		return w.PricesChanged
	}
	return ""
}

// paymentRecord is payments/{charge_id}.json: who paid what, for good.
type paymentRecord struct {
	UserID   int64  `json:"user_id"`
	ChatID   int64  `json:"chat_id"`
	Language string `json:"language,omitempty"`
	Stars    int    `json:"stars"`
	Payload  string `json:"payload"`
	At       int64  `json:"at"` // unix seconds
}

// payment is a payment made: recorded, credited, and the photo it paid
// for started, each once however often and however concurrently Telegram
// reports it. A transient failure returns an error, so that Telegram
// reports it again and the next delivery does what is left.
func (b *Bot) payment(ctx context.Context, update int64, msg *Message) (*Response, error) {
	p, user := msg.Payment, msg.From
	log := b.log.With("update_id", update, "user_id", userID(user), "stars", p.Stars, "charge_id", p.ChargeID)
	if user == nil || p.ChargeID == "" || p.Stars <= 0 {
		log.Error("a payment without a payer or a charge id: ignored")
		return nil, nil
	}
	w := b.wordsFor(user.Language)
	if err := b.recordPayment(ctx, msg); err != nil {
		log.Warn("payment not recorded yet; Telegram will report it again", "err", err)
		return nil, err
	}
	cctx, cancel := b.call(ctx)
	credited, left, err := b.credit(cctx, user.ID, p.ChargeID, p.Stars)
	cancel()
	if err != nil {
		log.Warn("payment not credited yet; Telegram will report it again", "err", err)
		return nil, err
	}
	if credited {
		log.Info("payment credited", "balance", left)
		b.countStars(ctx, CounterStarsEarned, p.Stars)
		b.countStars(ctx, CounterStarsHeld, p.Stars)
	}
	paid := reply(msg, w.credited(p.Stars, left))
	if !credited {
		paid = nil // said by the delivery that credited it
	}
	r, ok := b.parsePayload(p.Payload)
	if !ok || r.invoice == "" {
		return paid, nil
	}
	return b.startPaid(ctx, update, msg, r, paid)
}

// recordPayment creates the payment's record, once (If-None-Match): a
// redelivery finds it there and goes on.
func (b *Bot) recordPayment(ctx context.Context, msg *Message) error {
	p := msg.Payment
	rec, _ := json.Marshal(paymentRecord{UserID: msg.From.ID, ChatID: msg.ChatID, Language: msg.From.Language,
		Stars: p.Stars, Payload: p.Payload, At: b.now().Unix()})
	cctx, cancel := b.call(ctx)
	defer cancel()
	_, err := b.store.Create(cctx, paymentKey(p.ChargeID), rec)
	if err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	return nil
}

// startPaid starts the photo an invoice remembers, through the same
// steps as a photo, under a claim named by the invoice: once, however
// often it is paid. paid is what the user is told when nothing starts.
func (b *Bot) startPaid(ctx context.Context, update int64, msg *Message, r ref, paid *Response) (*Response, error) {
	w := b.wordsFor(msg.From.Language)
	inv, err := b.loadInvoice(ctx, r.invoice)
	switch {
	case errors.Is(err, ErrNotFound):
		b.log.Warn("a paid invoice's photo is not remembered", "invoice", r.invoice)
		return withText(paid, msg, w.SendAgain), nil
	case err != nil:
		return nil, err // Telegram reports the payment again
	}
	e := b.effect[inv.Effect]
	if e == nil {
		return withText(paid, msg, w.SendAgain), nil
	}
	photo := inv.message(msg.From, msg.Date)
	j := b.newJob(update, photo, msg.From, e, w)
	j.claimKey = invoiceStartKey(r.invoice)
	res, err := j.start(ctx)
	switch {
	case res == nil && err == nil:
		return paid, nil // started before: an invoice paid twice keeps the credit
	case paid != nil && res != nil && res.Reply != nil && res.Reply.Edit == 0:
		res.Reply.Text = paid.Reply.Text + "\n" + res.Reply.Text
	}
	return res, err
}

// withText adds text to what the user is told of a payment.
func withText(paid *Response, msg *Message, text string) *Response {
	if paid == nil {
		return reply(msg, text)
	}
	paid.Reply.Text += "\n" + text
	return paid
}

// charge decides what the job costs and holds it from the user's balance:
// nothing when payments are off, the effect is free, the user is an admin
// or has free photos left today (counted by acquire, like the daily
// quota). A balance too low is errShort: nothing was downloaded or billed.
func (j *job) charge(ctx context.Context) error {
	b := j.b
	price := b.priceOf(j.user, j.effect)
	j.price = price
	if price == 0 {
		return nil
	}
	if j.count > 0 && j.count <= b.opt.FreePerDay {
		j.note = j.w.plural(b.opt.FreePerDay-j.count, j.w.FreeLeft)
		return nil
	}
	cctx, cancel := b.call(ctx)
	defer cancel()
	left, err := b.hold(cctx, j.user.ID, j.claimKey, price)
	var short *shortError
	if errors.As(err, &short) {
		j.balance = short.have
	}
	if err != nil {
		return err
	}
	j.held, j.balance = true, left
	j.note = fmt.Sprintf(j.w.Spent, price, left)
	return nil
}

// giveBack returns a held price after a failed start; the user is told
// with the failure.
func (j *job) giveBack(ctx context.Context) {
	if !j.held {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	n, left, err := j.b.giveBack(cctx, j.user.ID, j.claimKey)
	if err != nil {
		// The hold stays: nothing lost, and it comes back by itself a
		// day after the prediction's deadline (expireHolds); loud, then.
		j.log.Error("could not give the price back to the user's balance", "stars", j.price, "err", err)
		return
	}
	j.held = false
	if n > 0 {
		j.returned = j.w.returned(n, left)
	}
}

// giveBack returns the price a task's prediction held, once: no result
// reaches the user. The user is told with the failure (d.returned).
func (d *delivery) giveBack(ctx context.Context) error {
	t := d.task
	if t.Hold == "" || d.gaveBack {
		return nil
	}
	cctx, cancel := d.b.call(ctx)
	defer cancel()
	n, left, err := d.b.giveBack(cctx, t.UserID, t.Hold)
	if err != nil {
		return fmt.Errorf("giving the price back: %w", err)
	}
	d.gaveBack = true
	if n > 0 {
		d.returned = d.w.returned(n, left)
		d.log.Info("price given back", "stars", n)
	}
	return nil
}

// unixDay is a unix time as the UTC day users read.
func unixDay(at int64) string { return time.Unix(at, 0).UTC().Format("2006-01-02") }
