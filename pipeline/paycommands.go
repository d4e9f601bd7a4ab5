package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// payCommands are the commands of a bot that sells (Telegram requires
// /paysupport of one, and asks for /terms).
var payCommands = map[string]bool{"balance": true, "buy": true, "paysupport": true, "terms": true, "refund": true}

// payCommand answers one of payCommands.
func (b *Bot) payCommand(ctx context.Context, msg *Message, command string) *Response {
	w := b.wordsFor(language(msg.From))
	switch command {
	case "balance":
		return reply(msg, b.balanceText(ctx, msg.From, w))
	case "buy":
		return &Response{Reply: &Reply{ChatID: msg.ChatID, ReplyTo: msg.ID, Text: w.BuyChoose, Buttons: b.packButtons(w)}}
	case "paysupport":
		return reply(msg, or(b.opt.PaySupport.In(w.lang), w.PaySupport))
	case "terms":
		return reply(msg, or(b.opt.Terms.In(w.lang), w.Terms))
	}
	_, charge := commandOf(msg.Text)
	return reply(msg, b.refundCommand(ctx, msg.From, charge, w))
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// balanceText is /balance: the Stars, the free photos left today, what a
// photo costs, the last purchases (with their ids, for a refund).
func (b *Bot) balanceText(ctx context.Context, u *User, w *words) string {
	if u == nil {
		return w.help
	}
	cctx, cancel := b.call(ctx)
	defer cancel()
	a, err := b.readAccount(cctx, u.ID)
	if err != nil {
		b.log.Warn("balance not read", "user_id", u.ID, "err", err)
		return w.BusyPress
	}
	lines := []string{fmt.Sprintf(w.BalanceLine, a.Stars)}
	if free := b.opt.FreePerDay; free > 0 && !b.opt.Admins.Has(u) {
		lines = append(lines, fmt.Sprintf(w.FreeToday, max(free-b.countToday(cctx, u.ID), 0), free))
	}
	if p := b.onePrice(); p > 0 {
		lines = append(lines, fmt.Sprintf(w.PhotoCosts, w.stars(p)))
	}
	if len(a.Purchases) > 0 {
		lines = append(lines, "", w.Purchases)
	}
	for i := len(a.Purchases) - 1; i >= 0; i-- {
		p := a.Purchases[i]
		line := fmt.Sprintf(w.PurchaseLine, unixDay(p.At), p.Stars, p.ChargeID)
		if p.Refunded {
			line += w.RefundedMark
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// countToday is the user's predictions counted today (quota.go); 0 when
// there are none or they cannot be read.
func (b *Bot) countToday(ctx context.Context, userID int64) int {
	data, _, err := b.store.Get(ctx, usageKey(userID))
	var u usage
	if err != nil || json.Unmarshal(data, &u) != nil || u.Day != b.now().UTC().Format("2006-01-02") {
		return 0
	}
	return u.Count
}

// onePrice is the price every priced effect has; 0 when they differ or
// none has one.
func (b *Bot) onePrice() int {
	p := 0
	for _, e := range b.opt.Effects {
		switch {
		case e.Price <= 0:
		case p == 0:
			p = e.Price
		case p != e.Price:
			return 0
		}
	}
	if b.pay == nil {
		return 0
	}
	return p
}

// prices are the lines of /start and /help on what things cost; none when
// payments are off.
func (b *Bot) prices(w *words) []string {
	if b.pay == nil {
		return nil
	}
	var lines []string
	if p := b.onePrice(); p > 0 && (b.single() || b.allPriced()) {
		lines = append(lines, fmt.Sprintf(w.HelpPrice, w.stars(p)))
	} else {
		lines = append(lines, w.HelpPrices)
		for _, e := range b.opt.Effects {
			price := w.Free
			if e.Price > 0 {
				price = fmt.Sprintf("%d ⭐", e.Price)
			}
			lines = append(lines, "• "+e.Title.In(w.lang)+": "+price)
		}
	}
	if b.opt.FreePerDay > 0 {
		lines = append(lines, w.plural(b.opt.FreePerDay, w.HelpFree))
	}
	return append(lines, w.HelpPay)
}

func (b *Bot) allPriced() bool {
	for _, e := range b.opt.Effects {
		if e.Price <= 0 {
			return false
		}
	}
	return true
}

// refundCommand is an admin's /refund <charge_id>: the payment goes back
// to the user at Telegram, once (a claim on the refund; Telegram's
// CHARGE_ALREADY_REFUNDED counts as done), and comes off their balance,
// which may go below zero. The user is told.
func (b *Bot) refundCommand(ctx context.Context, admin *User, charge string, w *words) string {
	switch {
	case !b.opt.Admins.Has(admin):
		return w.RefundAdmins
	case charge == "" || strings.ContainsAny(charge, " \n"):
		return w.RefundUsage
	}
	log := b.log.With("user_id", admin.ID, "charge_id", charge)
	rec, err := b.loadPayment(ctx, charge)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Sprintf(w.RefundUnknown, charge)
	case err != nil:
		log.Warn("payment not read", "err", err)
		return w.BusyPress
	}
	l, err := b.acquire(ctx, refundKey(charge), nil)
	switch {
	case errors.Is(err, errDone):
		return w.RefundBefore
	case errors.Is(err, ErrInProgress):
		return w.RefundBusy
	case err != nil:
		log.Warn("refund not claimed", "err", err)
		return w.BusyPress
	}
	left, err := b.refund(ctx, charge, rec)
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err != nil {
		log.Warn("refund not done", "err", err)
		b.release(cctx, l)
		return w.RefundFailed
	}
	if err := b.finish(cctx, refundKey(charge), stateDone, ""); err != nil {
		log.Warn("refund not marked done; a second /refund finds it refunded at Telegram", "err", err)
	}
	log.Info("payment refunded", "stars", rec.Stars, "refunded_user", rec.UserID, "balance", left)
	b.countStars(cctx, CounterStarsRefunded, rec.Stars)
	b.countStars(cctx, CounterStarsHeld, -rec.Stars)
	uw := b.wordsFor(rec.Language)
	if err := b.chat.Send(cctx, &Reply{ChatID: rec.ChatID, Text: fmt.Sprintf(uw.RefundedUser, uw.stars(rec.Stars), left)}); err != nil {
		log.Warn("the user was not told of the refund", "err", err)
	}
	return fmt.Sprintf(w.RefundDone, rec.Stars, rec.UserID, left)
}

// refund gives the payment back at Telegram, then takes it off the
// balance; each step is done once however often it is run.
func (b *Bot) refund(ctx context.Context, charge string, rec *paymentRecord) (left int, err error) {
	cctx, cancel := b.call(ctx)
	defer cancel()
	if err := b.pay.RefundStars(cctx, rec.UserID, charge); err != nil && !errors.Is(err, ErrAlreadyRefunded) {
		return 0, err
	}
	return b.debit(cctx, rec.UserID, charge, rec.Stars)
}

func (b *Bot) loadPayment(ctx context.Context, charge string) (*paymentRecord, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.store.Get(ctx, paymentKey(charge))
	if err != nil {
		return nil, err
	}
	var rec paymentRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("payment %s is corrupt: %w", charge, err)
	}
	return &rec, nil
}
