package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// /stats: the owner's view, for ADMIN_USERS in a private chat (anyone
// else gets the help, as for any unknown command). The numbers of today,
// the last 7 and 30 days as text, with a chart of the 30 days.

// statsDays is how many days /stats shows.
const statsDays = 30

// statsTimeout bounds the report when the request has no deadline. It
// takes well under 3 s (one object per closed day, read 32 at a time), but
// the first /stats of a day sums the closed days not yet rolled up, up to
// 32 shards each: on a loaded bucket that is slower, and worth waiting for
// rather than failing.
const statsTimeout = 15 * time.Second

// statsReport is the context of the report: the request's deadline less
// what sending the chart and the answer needs.
func (b *Bot) statsReport(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-2*b.opt.CallTimeout/3))
	}
	return context.WithTimeout(ctx, statsTimeout)
}

// statsFor reports whether msg's sender gets /stats.
func (b *Bot) statsFor(msg *Message) bool {
	return b.ledger != nil && msg.Private && b.opt.Admins.Has(msg.From)
}

// stats sends the chart, and answers with the numbers.
func (b *Bot) stats(ctx context.Context, msg *Message, w *words) (*Response, error) {
	log := b.log.With("chat_id", msg.ChatID, "user_id", userID(msg.From))
	rctx, cancel := b.statsReport(ctx)
	r, err := b.ledger.Report(rctx, b.now(), statsDays)
	cancel()
	if err != nil {
		log.Warn("/stats could not be read", "err", err)
		return reply(msg, statsWords[w.lang].failed), nil
	}
	sw := statsWords[w.lang]
	if png, err := b.ledger.Chart(r); err != nil {
		log.Warn("/stats: no chart", "err", err)
	} else {
		cctx, cancel := b.call(ctx)
		if err := b.chat.SendPNG(cctx, msg.ChatID, png, sw.chart); err != nil {
			log.Warn("/stats: the chart was not sent", "err", err)
		}
		cancel()
	}
	return reply(msg, sw.report(r, b.opt.ShowStars)), nil
}

// statsText holds the words of /stats in one language.
type statsText struct {
	lang, title, header, photos, users, modelTime, spend, byEffect, lastAlert, noAlert, failed, chart string
	outcomes                                                                                          map[string]string
	counters                                                                                          map[string]string
	alerts                                                                                            map[string]string
}

var statsWords = map[string]*statsText{
	"en": {
		lang: "en", title: "📊 Stats (UTC days)", header: "today · 7 days · 30 days",
		photos: "Photos processed", users: "Users", modelTime: "Model time", spend: "Replicate spend (est.)",
		byEffect: "By effect, 30 days", lastAlert: "Last alert", noAlert: "none in 30 days",
		failed: "The stats cannot be read right now (the bucket did not answer). Try again in a minute.",
		chart:  "Photos per day by outcome, and the estimated spend, over 30 days",
		outcomes: map[string]string{Delivered: "delivered", FailedMemory: "failed: out of memory", FailedInput: "failed: input refused",
			FailedTimeout: "failed: too long", FailedModel: "failed: model error", FailedEmpty: "failed: no output",
			Expired: "failed: never started", Undelivered: "not delivered", CanceledByUser: "canceled",
			RefusedLimit: "refused: limits", RefusedAccess: "refused: access", Unavailable: "unavailable"},
		counters: map[string]string{CounterStarsEarned: "Stars earned", CounterStarsRefunded: "Stars refunded", CounterStarsHeld: "Stars added to balances (net)"},
		alerts: map[string]string{AlertNoCredit: "Replicate out of credit", AlertToken: "Replicate token refused",
			AlertModelGone: "model gone", AlertBucket: "bucket refused"},
	},
	"ru": {
		lang: "ru", title: "📊 Статистика (дни по UTC)", header: "сегодня · 7 дней · 30 дней",
		photos: "Обработано фото", users: "Пользователей", modelTime: "Время моделей", spend: "Расход Replicate (оценка)",
		byEffect: "По эффектам, 30 дней", lastAlert: "Последняя тревога", noAlert: "за 30 дней не было",
		failed: "Статистику сейчас не прочитать (бакет не ответил). Попробуйте через минуту.",
		chart:  "Фото по дням и исходам и оценка расхода за 30 дней",
		outcomes: map[string]string{Delivered: "доставлено", FailedMemory: "ошибка: не хватило памяти", FailedInput: "ошибка: фото не принято",
			FailedTimeout: "ошибка: слишком долго", FailedModel: "ошибка модели", FailedEmpty: "ошибка: пустой ответ",
			Expired: "ошибка: не запустилась", Undelivered: "не доставлено", CanceledByUser: "отменено",
			RefusedLimit: "отказ: лимиты", RefusedAccess: "отказ: нет доступа", Unavailable: "бот недоступен"},
		counters: map[string]string{CounterStarsEarned: "Звёзд получено", CounterStarsRefunded: "Звёзд возвращено", CounterStarsHeld: "Звёзд прибавилось на балансах"},
		alerts: map[string]string{AlertNoCredit: "на Replicate кончились деньги", AlertToken: "токен Replicate отклонён",
			AlertModelGone: "модели нет", AlertBucket: "бакет отказывает"},
	},
}

// outcomeOrder is the order outcomes are listed in.
var outcomeOrder = []string{Delivered, FailedMemory, FailedInput, FailedTimeout, FailedModel, FailedEmpty, Expired,
	Undelivered, CanceledByUser, RefusedLimit, RefusedAccess, Unavailable}

// report is the text of /stats: one line per number, today · 7 · 30 days;
// outcomes that never happened in 30 days are left out.
func (t *statsText) report(r *Report, stars bool) string {
	spans := []*Totals{&r.Today, &r.Week, &r.Month}
	row := func(label string, f func(*Totals) string) string {
		cells := make([]string, len(spans))
		for i, s := range spans {
			cells[i] = f(s)
		}
		return label + ": " + strings.Join(cells, " · ")
	}
	num := func(v func(*Totals) int64) func(*Totals) string {
		return func(s *Totals) string { return strconv.FormatInt(v(s), 10) }
	}
	lines := []string{t.title, t.header,
		row(t.photos, num(func(s *Totals) int64 { return s.Photos })),
		row(t.users, num(func(s *Totals) int64 { return s.Users }))}
	for _, o := range outcomeOrder {
		if r.Month.Outcomes[o] > 0 {
			lines = append(lines, row("  "+t.outcomes[o], num(func(s *Totals) int64 { return s.Outcomes[o] })))
		}
	}
	lines = append(lines,
		row(t.modelTime, func(s *Totals) string { return roundTime(s.ModelTime) }),
		row(t.spend, func(s *Totals) string { return dollars(s.Spend) }))
	if stars {
		for _, c := range []string{CounterStarsEarned, CounterStarsRefunded, CounterStarsHeld} {
			lines = append(lines, row(t.counters[c], num(func(s *Totals) int64 { return s.Counters[c] })))
		}
	}
	if len(r.Month.Effects) > 0 {
		var parts []string
		for _, id := range slices.Sorted(maps.Keys(r.Month.Effects)) {
			parts = append(parts, "/"+id+" "+strconv.FormatInt(r.Month.Effects[id], 10))
		}
		lines = append(lines, t.byEffect+": "+strings.Join(parts, ", "))
	}
	alert := t.noAlert
	if a := r.LastAlert; a != nil {
		alert = t.alerts[a.Kind] + ", " + a.At.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	return strings.Join(append(lines, t.lastAlert+": "+alert), "\n")
}

// roundTime shows seconds to a tenth under a minute ("0.3s"), whole
// seconds above ("10m4s").
func roundTime(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

// dollars shows cents, and tenths of a cent under a dollar: a small bot's
// day costs less than a cent.
func dollars(usd float64) string {
	if usd < 1 && usd > 0 {
		return fmt.Sprintf("$%.3f", usd)
	}
	return fmt.Sprintf("$%.2f", usd)
}
