package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/stats"
)

// Telegram Stars: what a paying user sees, and every Star counted once.

var secret = []byte("0123456789abcdef0123456789abcdef")

// payCore is a bot that charges price Stars a photo, none free.
func payCore(t *testing.T, price int, change ...func(*pipeline.Options)) *core {
	t.Helper()
	c := newCore(t, append([]func(*pipeline.Options){func(o *pipeline.Options) {
		o.Effects[0].Price = price
		o.StarPacks = []int{50, 150}
		o.PaySecret = secret
	}}, change...)...)
	c.pay = &inmem.Payments{}
	c.rewire(c.store, c.chat)
	return c
}

// balance is what the user's account says: the Stars, and how many
// prices are held.
func (c *core) balance(user int64) (stars, held int) {
	c.t.Helper()
	var a struct {
		Stars int
		Held  map[string]json.RawMessage
	}
	if data := c.store.Object(fmt.Sprintf("accounts/%d.json", user)); data != nil {
		if err := json.Unmarshal(data, &a); err != nil {
			c.t.Fatal(err)
		}
	}
	return a.Stars, len(a.Held)
}

// paid is Telegram's report of a payment of an invoice's payload.
func (c *core) paid(user int64, stars int, payload, charge string) *pipeline.Update {
	n := c.seq.Add(1)
	return &pipeline.Update{ID: 90000 + n, Message: &pipeline.Message{ID: int(n), ChatID: user, Private: true,
		From: &pipeline.User{ID: user, Language: "en"}, Date: c.clock.Now(),
		Payment: &pipeline.Payment{Currency: "XTR", Stars: stars, Payload: payload, ChargeID: charge}}}
}

// lastInvoice is the last invoice sent.
func (c *core) lastInvoice() pipeline.Invoice {
	c.t.Helper()
	invoices, _ := c.pay.Record()
	if len(invoices) == 0 {
		c.t.Fatal("no invoice sent")
	}
	return invoices[len(invoices)-1]
}

// topUp buys a pack of stars for user, as /buy's button does.
func (c *core) topUp(user int64, stars int, charge string) {
	c.t.Helper()
	r, err := c.handle(&pipeline.Update{ID: 70000 + c.seq.Add(1), Press: &pipeline.Press{ID: "buy", From: pipeline.User{ID: user},
		ChatID: user, Data: fmt.Sprint("b:", stars)}})
	if err != nil || r != nil {
		c.t.Fatalf("pack press: %+v, %v", r, err)
	}
	inv := c.lastInvoice()
	if inv.Stars != stars || inv.ChatID != user {
		c.t.Fatalf("pack invoice %+v", inv)
	}
	if r, err := c.handle(c.paid(user, stars, inv.Payload, charge)); err != nil || r == nil || !strings.Contains(r.Reply.Text, "Payment received") {
		c.t.Fatalf("pack paid: %+v, %v", r, err)
	}
}

func (c *core) predictions() int {
	created, _ := c.models.Record()
	return len(created)
}

func TestPaidPhotoHoldsThePriceAndADeliveredResultKeepsIt(t *testing.T) {
	c := payCore(t, 10)
	c.topUp(7, 50, "ch1")
	r, err := c.handle(c.photo(7, "en"))
	if err != nil || r == nil || r.PredictionID == "" || !strings.Contains(r.Reply.Text, "−10 ⭐, 40 ⭐ left") {
		t.Fatalf("paid photo: %+v, %v; want it started, saying what it cost", r, err)
	}
	if stars, held := c.balance(7); stars != 40 || held != 1 {
		t.Errorf("balance %d, %d held; want 40 and 1", stars, held)
	}
	o := &pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/out.png"}}
	for range 2 {
		if err := c.deliver(o); err != nil {
			t.Fatal(err)
		}
	}
	if stars, held := c.balance(7); stars != 40 || held != 0 {
		t.Errorf("after the result: balance %d, %d held; want 40 kept, nothing held", stars, held)
	}
	ru := c.photo(7, "ru")
	if r, _ := c.handle(ru); r == nil || !strings.Contains(r.Reply.Text, "−10 ⭐, на балансе 30 ⭐") {
		t.Errorf("in Russian: %+v", r)
	}
}

// countingChat counts the photos downloaded.
type countingChat struct {
	*inmem.Chat
	opened atomic.Int32
}

func (c *countingChat) OpenFile(ctx context.Context, id string) (body io.ReadCloser, size int64, err error) {
	c.opened.Add(1)
	return c.Chat.OpenFile(ctx, id)
}

func TestShortBalanceGetsAnInvoiceAndNothingIsDownloaded(t *testing.T) {
	c := payCore(t, 10)
	chat := &countingChat{Chat: c.chat}
	c.rewire(c.store, chat)
	u := c.photo(7, "en")
	for range 2 { // a redelivery sends no second invoice
		if r, err := c.handle(u); err != nil || r != nil {
			t.Fatalf("photo without Stars: %+v, %v; want only the invoice", r, err)
		}
	}
	invoices, _ := c.pay.Record()
	if len(invoices) != 1 {
		t.Fatalf("%d invoices", len(invoices))
	}
	inv := invoices[0]
	if inv.ChatID != 7 || inv.ReplyTo != u.Message.ID || inv.Stars != 10 || inv.Title != "Restore" ||
		len(inv.Payload) > 128 || !strings.Contains(inv.Description, "starts by itself") ||
		len(inv.Buttons) != 1 || inv.Buttons[0][0].Data != "b:50" || inv.Buttons[0][1].Text != "+150 ⭐" {
		t.Errorf("invoice %+v", inv)
	}
	if chat.opened.Load() != 0 || c.predictions() != 0 || len(c.store.Keys("images/")) != 0 {
		t.Errorf("downloaded %d, predictions %d, images %v: want nothing", chat.opened.Load(), c.predictions(), c.store.Keys("images/"))
	}
	if len(c.store.Keys("invoices/")) != 1 {
		t.Errorf("remembered: %v", c.store.Keys("invoices/"))
	}
	// Paid: the photo starts by itself, and the user reads what happened.
	r, err := c.handle(c.paid(7, 10, inv.Payload, "charge-1"))
	if err != nil || r == nil || r.PredictionID == "" || r.Reply.ReplyTo != u.Message.ID ||
		r.Reply.Text != "Payment received: +10 Stars. Balance: 10 ⭐.\nGot it, processing your photo…\n−10 ⭐, 0 ⭐ left" {
		t.Errorf("paid: %+v, %v", r, err)
	}
	if chat.opened.Load() != 1 {
		t.Errorf("downloaded %d times, want 1", chat.opened.Load())
	}
}

func TestPreCheckoutIsAnsweredFromThePayload(t *testing.T) {
	allowed, _ := pipeline.ParseUsers("7,8")
	c := payCore(t, 10, func(o *pipeline.Options) { o.Allowed = allowed })
	c.handle(c.photo(7, "en"))
	photo := c.lastInvoice().Payload
	c.handle(&pipeline.Update{ID: 1, Press: &pipeline.Press{ID: "p", From: pipeline.User{ID: 7}, ChatID: 7, Data: "b:150"}})
	pack := c.lastInvoice().Payload
	forged := strings.Replace(photo, "p.7.", "p.8.", 1)
	for i, tc := range []struct {
		from    int64
		lang    string
		stars   int
		payload string
		want    string // in the refusal; "" for ok
	}{
		{7, "en", 10, photo, ""},
		{7, "en", 150, pack, ""},
		{7, "en", 9, photo, "price has changed"},
		{7, "ru", 50, pack, "Цена изменилась"},
		{8, "en", 10, photo, "no longer valid"}, // another user's invoice
		{8, "en", 10, forged, "no longer valid"},
		{7, "en", 10, "p.7.x.restore.AAAAAAAAAAAAAAAAAAAAAA", "no longer valid"},
		{9, "en", 10, photo, "private bot"},
	} {
		id := fmt.Sprint("q", i)
		q := &pipeline.PreCheckout{ID: id, From: pipeline.User{ID: tc.from, Language: tc.lang}, Currency: "XTR", Stars: tc.stars, Payload: tc.payload}
		if r, err := c.handle(&pipeline.Update{ID: int64(100 + i), PreCheckout: q}); err != nil || r != nil {
			t.Errorf("%d: %+v, %v", i, r, err)
		}
		refusal, ok := c.pay.Answer(id)
		if !ok || tc.want == "" && refusal != "" || !strings.Contains(refusal, tc.want) {
			t.Errorf("%d: answered %v, %q; want %q", i, ok, refusal, tc.want)
		}
	}
}

// The invoice's photo: paid, it starts by itself, once, however often
// and however concurrently Telegram reports the payment.
func TestSamePaymentThreeTimesAtOnceCreditsOnceAndStartsOnce(t *testing.T) {
	c := payCore(t, 10)
	u := c.photo(7, "en")
	c.handle(u)
	pay := c.paid(7, 10, c.lastInvoice().Payload, "charge-1")
	var wg sync.WaitGroup
	var started atomic.Int32
	var retry atomic.Int32
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.handle(pay)
			switch {
			case errors.Is(err, pipeline.ErrInProgress):
				retry.Add(1)
			case err != nil:
				t.Error(err)
			case r != nil && r.PredictionID != "":
				started.Add(1)
				if r.Reply.ReplyTo != u.Message.ID || !strings.HasSuffix(r.Reply.Text, "Got it, processing your photo…\n−10 ⭐, 0 ⭐ left") {
					t.Errorf("reply %+v", r.Reply)
				}
			}
		}()
	}
	wg.Wait()
	for range retry.Load() { // Telegram's redeliveries of the ones asked to retry
		if r, err := c.handle(pay); err != nil || r != nil {
			t.Errorf("redelivery: %+v, %v", r, err)
		}
	}
	if started.Load() != 1 || c.predictions() != 1 {
		t.Fatalf("started %d, predictions %d; want 1", started.Load(), c.predictions())
	}
	p, _ := c.models.Record()
	if img, _ := p[0].Input["image"].(string); !strings.HasPrefix(img, "https://bucket.example/images/") {
		t.Errorf("the remembered photo was not the input: %v", p[0].Input)
	}
	if stars, held := c.balance(7); stars != 0 || held != 1 {
		t.Errorf("balance %d, %d held; want 0 and 1 (credited 10 once, held 10)", stars, held)
	}
	// Paying the same invoice again (a new charge) credits, starts nothing.
	r, err := c.handle(c.paid(7, 10, pay.Message.Payment.Payload, "charge-2"))
	if err != nil || r == nil || r.PredictionID != "" || !strings.Contains(r.Reply.Text, "+10 Stars. Balance: 10 ⭐") {
		t.Errorf("second payment: %+v, %v", r, err)
	}
}

func TestCrashBetweenCreditAndStartLosesNothing(t *testing.T) {
	c := payCore(t, 10)
	c.handle(c.photo(7, "en"))
	pay := c.paid(7, 10, c.lastInvoice().Payload, "charge-1")
	// The store fails once the payment is credited: the start's claim
	// cannot be written, as if the request died there.
	c.store.FailNext("create invoices/", errors.New("503 SlowDown"))
	if _, err := c.handle(pay); err == nil {
		t.Fatal("no error: Telegram would not report the payment again")
	}
	if stars, _ := c.balance(7); stars != 10 || c.predictions() != 0 {
		t.Fatalf("after the crash: balance %d, %d predictions; want 10 credited, none", stars, c.predictions())
	}
	r, err := c.handle(pay) // Telegram's redelivery
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v; want the photo started", r, err)
	}
	if stars, held := c.balance(7); stars != 0 || held != 1 || c.predictions() != 1 {
		t.Errorf("balance %d, %d held, %d predictions; want 0, 1, 1", stars, held, c.predictions())
	}
}

// A request that died after holding the price: the redelivery takes its
// stale claim over and holds the price once.
func TestTakenOverClaimHoldsOnce(t *testing.T) {
	c := payCore(t, 10, func(o *pipeline.Options) { o.Deadline = 10 * time.Second })
	c.topUp(7, 50, "ch1")
	u := c.photo(7, "en")
	c.models.FailNext("create", errors.New("connection reset"))
	c.store.FailNext("delete updates/", errors.New("503")) // the claim is not let go
	c.store.FailNext("replace accounts/", nil)             // the hold is written
	c.store.FailNext("replace accounts/", errors.New("503"))
	if _, err := c.handle(u); err == nil {
		t.Fatal("want a transient error")
	}
	// The give-back failed too: the price is held, under the claim.
	if stars, held := c.balance(7); stars != 40 || held != 1 {
		t.Fatalf("balance %d, %d held", stars, held)
	}
	c.clock.Advance(13 * time.Second) // the claim is stale
	if r, err := c.handle(u); err != nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v", r, err)
	}
	if stars, held := c.balance(7); stars != 40 || held != 1 {
		t.Errorf("balance %d, %d held; want 40 and 1: one price held", stars, held)
	}
}

func TestFailedAndCanceledPredictionsGiveThePriceBackOnce(t *testing.T) {
	c := payCore(t, 10, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{upscale, nobg}; o.Effects[0].Price = 10 })
	c.topUp(7, 50, "ch1")
	photo, menu := c.menu(7)
	r, err := c.press(photo, menu, true, "e:upscale", 7)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("press: %+v, %v", r, err)
	}
	if sent, _, _ := c.chat.Record(); !strings.Contains(sent[len(sent)-1].Text, "−10 ⭐, 40 ⭐ left") {
		t.Errorf("status %q", sent[len(sent)-1].Text)
	}
	failed := &pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Failed, Error: "CUDA error: out of memory"}
	for range 2 {
		if err := c.deliver(failed); err != nil {
			t.Fatal(err)
		}
	}
	sent, _, _ := c.chat.Record()
	if last := sent[len(sent)-1].Text; !strings.Contains(last, "out of memory") || !strings.Contains(last, "10 Stars returned to your balance (50 ⭐ on your balance)") {
		t.Errorf("failure told as %q", last)
	}
	if stars, held := c.balance(7); stars != 50 || held != 0 {
		t.Errorf("after the failure: balance %d, %d held; want 50, 0", stars, held)
	}

	// Canceled by the user: given back at once; the canceled webhook
	// changes nothing.
	photo, menu = c.menu(7)
	r, _ = c.press(photo, menu, true, "e:upscale", 7)
	cr, err := c.press(photo, menu, true, "x:e_upscale", 7)
	if err != nil || cr == nil || !strings.Contains(cr.Reply.Text, "10 Stars returned") {
		t.Fatalf("cancel: %+v, %v", cr, err)
	}
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Canceled}); err != nil {
		t.Fatal(err)
	}
	// Stopped by the deadline (Cancel-After): given back too.
	photo, menu = c.menu(7)
	r, _ = c.press(photo, menu, true, "e:upscale", 7)
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Canceled}); err != nil {
		t.Fatal(err)
	}
	if stars, held := c.balance(7); stars != 50 || held != 0 {
		t.Errorf("after the cancels: balance %d, %d held; want 50, 0", stars, held)
	}
	// A free effect costs nothing.
	photo, menu = c.menu(7)
	if r, _ := c.press(photo, menu, true, "e:nobg", 7); r == nil || r.PredictionID == "" {
		t.Errorf("free effect: %+v", r)
	}
	if stars, _ := c.balance(7); stars != 50 {
		t.Errorf("free effect charged: %d", stars)
	}
}

func TestUndeliverableResultGivesThePriceBack(t *testing.T) {
	c := payCore(t, 10)
	c.topUp(7, 50, "ch1")
	r, _ := c.handle(c.photo(7, "en"))
	c.chat.FailAlways("result", fmt.Errorf("403 blocked: %w", pipeline.ErrGone))
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/o.png"}}); err != nil {
		t.Fatal(err)
	}
	if stars, held := c.balance(7); stars != 50 || held != 0 {
		t.Errorf("balance %d, %d held; want 50, 0", stars, held)
	}
}

// A start that fails before its prediction exists gives the price back,
// and says so.
func TestFailedStartGivesThePriceBack(t *testing.T) {
	c := payCore(t, 10)
	c.topUp(7, 50, "ch1")
	c.models.FailNext("create", fmt.Errorf("422: %w", pipeline.ErrRejected))
	r, err := c.handle(c.photo(7, "en"))
	if err != nil || r == nil || !strings.Contains(r.Reply.Text, "10 Stars returned to your balance (50 ⭐") {
		t.Errorf("got %+v, %v", r, err)
	}
	if stars, held := c.balance(7); stars != 50 || held != 0 {
		t.Errorf("balance %d, %d held; want 50, 0", stars, held)
	}
}

func TestTwoPhotosWithABalanceForOne(t *testing.T) {
	c := payCore(t, 50)
	c.topUp(7, 50, "ch1")
	var wg sync.WaitGroup
	var started atomic.Int32
	for range 2 {
		wg.Add(1)
		go func(u *pipeline.Update) {
			defer wg.Done()
			if r, err := c.handle(u); err != nil {
				t.Error(err)
			} else if r != nil && r.PredictionID != "" {
				started.Add(1)
			}
		}(c.photo(7, "en"))
	}
	wg.Wait()
	invoices, _ := c.pay.Record()
	if started.Load() != 1 || len(invoices) != 2 || invoices[1].Stars != 50 || invoices[1].ReplyTo == 0 {
		t.Errorf("started %d, invoices %+v; want one started, one photo invoiced (after the pack's)", started.Load(), invoices)
	}
	if stars, held := c.balance(7); stars != 0 || held != 1 {
		t.Errorf("balance %d, %d held", stars, held)
	}
}

func TestFreePhotosOfTheDayAndAdmins(t *testing.T) {
	admins, _ := pipeline.ParseUsers("1")
	c := payCore(t, 10, func(o *pipeline.Options) { o.FreePerDay = 1; o.Admins = admins })
	r, _ := c.handle(c.photo(7, "en"))
	if r == nil || r.PredictionID == "" || !strings.Contains(r.Reply.Text, "0 more free today") {
		t.Fatalf("first photo of the day: %+v", r)
	}
	if r, _ := c.handle(c.photo(7, "en")); r != nil {
		t.Errorf("second photo: %+v, want an invoice", r)
	}
	c.models.FailNext("create", fmt.Errorf("422: %w", pipeline.ErrRejected))
	c.clock.Advance(24 * time.Hour)
	c.handle(c.photo(7, "en")) // never made: the free photo is not used up
	if r, _ := c.handle(c.photo(7, "en")); r == nil || r.PredictionID == "" {
		t.Errorf("next day: %+v, want free", r)
	}
	for range 3 {
		if r, _ := c.handle(c.photo(1, "en")); r == nil || r.PredictionID == "" || strings.Contains(r.Reply.Text, "⭐") {
			t.Errorf("admin: %+v, want free", r)
		}
	}
	if invoices, _ := c.pay.Record(); len(invoices) != 1 {
		t.Errorf("%d invoices, want 1", len(invoices))
	}
}

func TestPaymentsOffIgnoresPrices(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects[0].Price = 10 })
	if r, _ := c.handle(c.photo(7, "en")); r == nil || r.PredictionID == "" || strings.Contains(r.Reply.Text, "⭐") {
		t.Errorf("%+v", r)
	}
	text := &pipeline.Update{ID: 1, Message: &pipeline.Message{ID: 1, ChatID: 7, Private: true, From: &pipeline.User{ID: 7}, Text: "/balance"}}
	if r, _ := c.handle(text); r == nil || strings.Contains(r.Reply.Text, "Balance") {
		t.Errorf("/balance with payments off: %+v, want the help", r)
	}
	if _, err := pipeline.New(pipeline.Deps{Store: c.store, Images: c.store, Chat: c.chat, Models: c.models, Payments: &inmem.Payments{}},
		pipeline.Options{Effects: []pipeline.Effect{restore}}); err == nil {
		t.Error("payments without a PaySecret: no error")
	}
}

func (c *core) command(user int64, lang, text string) string {
	c.t.Helper()
	n := c.seq.Add(1)
	r, err := c.handle(&pipeline.Update{ID: 80000 + n, Message: &pipeline.Message{ID: int(n), ChatID: user, Private: true,
		From: &pipeline.User{ID: user, Language: lang}, Text: text}})
	if err != nil || r == nil || r.Reply == nil {
		c.t.Fatalf("%s: %+v, %v", text, r, err)
	}
	return r.Reply.Text
}

func TestRefundOnceByAnAdmin(t *testing.T) {
	admins, _ := pipeline.ParseUsers("1")
	c := payCore(t, 10, func(o *pipeline.Options) { o.Admins = admins })
	c.topUp(7, 50, "chargeA")
	c.handle(c.photo(7, "ru")) // 40 left
	if got := c.command(7, "en", "/refund chargeA"); !strings.Contains(got, "Only the bot's admins") {
		t.Errorf("a user's /refund: %q", got)
	}
	if got := c.command(1, "en", "/refund nosuch"); !strings.Contains(got, "no payment nosuch") {
		t.Errorf("unknown charge: %q", got)
	}
	c.pay.FailNext("refund", errors.New("502 Bad Gateway"))
	if got := c.command(1, "en", "/refund chargeA"); !strings.Contains(got, "did not refund") {
		t.Errorf("Telegram failed: %q", got)
	}
	if got := c.command(1, "en", "/refund chargeA"); got != "Refunded 50 ⭐ to user 7; their balance is now -10 ⭐." {
		t.Errorf("refund: %q", got)
	}
	if got := c.command(1, "en", "/refund chargeA"); !strings.Contains(got, "refunded before") {
		t.Errorf("second refund: %q", got)
	}
	if _, refunds := c.pay.Record(); len(refunds) != 1 {
		t.Errorf("refunds at Telegram: %v", refunds)
	}
	if stars, _ := c.balance(7); stars != -10 {
		t.Errorf("balance %d, want -10", stars)
	}
	sent, _, _ := c.chat.Record()
	if last := sent[len(sent)-1]; last.ChatID != 7 || last.Text != "A payment was refunded to you: −50 Stars. Balance: -10 ⭐." {
		t.Errorf("the user was told %+v", last)
	}
	// Below zero, the next photo asks for a top-up.
	if r, _ := c.handle(c.photo(7, "en")); r != nil {
		t.Errorf("photo with -10 ⭐: %+v, want an invoice", r)
	}
	// Refunded at Telegram already (by hand, or by a request that died):
	// it counts as done, and the balance is debited once.
	c.topUp(8, 50, "chargeB")
	c.pay.RefundStars(context.Background(), 8, "chargeB")
	if got := c.command(1, "en", "/refund chargeB"); !strings.Contains(got, "balance is now 0 ⭐") {
		t.Errorf("refunded before at Telegram: %q", got)
	}
}

func TestBalanceBuyAndTheWordsOfPayments(t *testing.T) {
	c := payCore(t, 10, func(o *pipeline.Options) {
		o.FreePerDay = 2
		o.Terms = pipeline.Text{"en": "Our terms."}
	})
	c.topUp(7, 50, "chargeA")
	c.handle(c.photo(7, "en"))
	got := c.command(7, "en", "/balance")
	for _, want := range []string{"Balance: 50 ⭐", "Free photos left today: 1 of 2", "A photo costs 10 Stars.", "+50 ⭐ (chargeA)"} {
		if !strings.Contains(got, want) {
			t.Errorf("/balance %q lacks %q", got, want)
		}
	}
	r, _ := c.handle(&pipeline.Update{ID: 5, Message: &pipeline.Message{ID: 5, ChatID: 7, Private: true, From: &pipeline.User{ID: 7}, Text: "/buy"}})
	if r == nil || len(data(r.Reply.Buttons)) != 2 || data(r.Reply.Buttons)[1] != "b:150" {
		t.Errorf("/buy: %+v", r)
	}
	if got := c.command(7, "ru", "/paysupport"); !strings.Contains(got, "владельцу бота") {
		t.Errorf("/paysupport: %q", got)
	}
	if got := c.command(7, "en", "/terms"); got != "Our terms." {
		t.Errorf("/terms: %q", got)
	}
	for lang, want := range map[string]string{"en": "A photo costs 10 Stars", "ru": "Фото стоит 10 звёзд"} {
		if got := c.command(7, lang, "/help"); !strings.Contains(got, want) || !strings.Contains(got, "/balance") {
			t.Errorf("/help in %s: %q", lang, got)
		}
	}
	if cmds := c.bot.Commands(); len(cmds[""]) != 6 || cmds["ru"][2].Command != "balance" {
		t.Errorf("commands %v", cmds)
	}
	if got := c.command(7, "ru", "/start"); !strings.Contains(got, "Первые 2 фото в день — бесплатно.") {
		t.Errorf("/start in ru: %q", got)
	}
}

func TestPluralsOfStars(t *testing.T) {
	c := payCore(t, 1)
	for n, want := range map[int]string{1: "1 звезда", 2: "2 звезды", 4: "4 звезды", 5: "5 звёзд", 11: "11 звёзд", 12: "12 звёзд",
		14: "14 звёзд", 21: "21 звезда", 22: "22 звезды", 25: "25 звёзд", 111: "111 звёзд"} {
		u := c.paid(int64(100+n), n, "k.x", fmt.Sprint("c", n))
		u.Message.From.Language = "ru"
		if r, err := c.handle(u); err != nil || !strings.Contains(r.Reply.Text, "+"+want+".") {
			t.Errorf("%d: %+v, %v; want %q", n, r, err, want)
		}
	}
	for n, want := range map[int]string{1: "+1 Star.", 2: "+2 Stars.", 11: "+11 Stars."} {
		if r, _ := c.handle(c.paid(int64(200+n), n, "", fmt.Sprint("e", n))); r == nil || !strings.Contains(r.Reply.Text, want) {
			t.Errorf("%d: %+v; want %q", n, r, want)
		}
	}
}

func TestNoLifecycleRuleExpiresMoney(t *testing.T) {
	for _, r := range pipeline.LifecycleRules {
		for _, kept := range pipeline.KeptPrefixes {
			if strings.HasPrefix(kept, r.Prefix) || strings.HasPrefix(r.Prefix, kept) {
				t.Errorf("rule %s (%q) would expire %s", r.ID, r.Prefix, kept)
			}
		}
	}
}

// A prediction abandoned because its task could not be saved gives its
// price back; the redelivery that redoes it holds it again, once.
func TestAbandonedPredictionGivesThePriceBack(t *testing.T) {
	c := payCore(t, 10, func(o *pipeline.Options) { o.SaveBudget = 300 * time.Millisecond })
	c.topUp(7, 50, "ch1")
	c.store.FailAlways("put tasks/", errors.New("503 SlowDown"))
	u := c.photo(7, "en")
	if _, err := c.handle(u); err == nil {
		t.Fatal("no error: Telegram would not retry")
	}
	if stars, held := c.balance(7); stars != 50 || held != 0 {
		t.Errorf("after the abandon: balance %d, %d held; want 50, 0", stars, held)
	}
	c.store.FailAlways("put tasks/", nil)
	if r, err := c.handle(u); err != nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v", r, err)
	}
	if stars, held := c.balance(7); stars != 40 || held != 1 {
		t.Errorf("after the redo: balance %d, %d held; want 40, 1", stars, held)
	}
}

// /stats counts the Stars as they move: a payment earned and added to the
// balances, a delivered photo's price spent from them, a refund.
func TestStatsCountTheStars(t *testing.T) {
	admins, _ := pipeline.ParseUsers("42")
	c := payCore(t, 10, func(o *pipeline.Options) { o.Admins = admins; o.ShowStars = true })
	b, err := pipeline.New(pipeline.Deps{Store: c.store, Images: c.store, Chat: c.chat, Models: c.models,
		Payments: c.pay, Ledger: stats.New(c.store, nil)}, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	c.bot = b
	c.topUp(7, 50, "chargeA")
	r, err := c.handle(c.photo(7, "en"))
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("paid photo: %+v, %v", r, err)
	}
	if err := c.deliver(succeeded(r.PredictionID)); err != nil {
		t.Fatal(err)
	}
	c.topUp(7, 150, "chargeB")
	if got := c.command(42, "en", "/refund chargeB"); !strings.Contains(got, "150") {
		t.Fatalf("/refund: %q", got)
	}
	text, _ := c.askStats()
	for _, want := range []string{"Stars earned: 200 · 200 · 200", "Stars refunded: 150 · 150 · 150",
		"Stars added to balances (net): 40 · 40 · 40"} {
		if !strings.Contains(text, want) {
			t.Errorf("/stats lacks %q:\n%s", want, text)
		}
	}
}

// A price held for a prediction that never reports back (its webhook lost
// for good) is given back once the prediction's deadline and a day have
// passed: /balance shows it, and the next change of the balance keeps it.
func TestAPriceHeldForAPredictionThatNeverEndsComesBack(t *testing.T) {
	c := payCore(t, 10)
	c.topUp(7, 50, "chargeA")
	if r, err := c.handle(c.photo(7, "en")); err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("paid photo: %+v, %v", r, err)
	}
	if stars, held := c.balance(7); stars != 40 || held != 1 {
		t.Fatalf("balance %d, %d held; want 40 and 1", stars, held)
	}
	c.clock.Advance(c.opt.PredictionDeadline + 23*time.Hour)
	if got := c.command(7, "en", "/balance"); !strings.Contains(got, "Balance: 40 ⭐") {
		t.Errorf("/balance while the prediction may still end: %q", got)
	}
	c.clock.Advance(2 * time.Hour)
	if got := c.command(7, "en", "/balance"); !strings.Contains(got, "Balance: 50 ⭐") {
		t.Errorf("/balance a day after the deadline: %q", got)
	}
	c.topUp(7, 50, "chargeB")
	if stars, held := c.balance(7); stars != 100 || held != 0 {
		t.Errorf("balance %d, %d held after a top-up; want 100 and 0", stars, held)
	}
}
