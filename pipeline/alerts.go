package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"
)

// Alerts: when Replicate or the bucket refuses the bot itself, every photo
// fails until the operator acts, so each admin is told what is wrong and
// what to do: once per kind per hour, however many instances see it. The
// first to create alerts/{kind}/{yyyymmddhh} (If-None-Match) tells; the
// others find it there. When the bucket itself refuses, that mark cannot
// be written: each instance then tells once per hour (best effort).

// Errors the Models port wraps (with ErrConfig) for the failures that
// raise an alert.
var (
	// ErrNoCredit: the account is out of credit (Replicate's 402).
	ErrNoCredit = errors.New("the account is out of credit")
	// ErrTokenRefused: the API token was refused (401).
	ErrTokenRefused = errors.New("the API token was refused")
	// ErrModelGone: the model or its version is not there (404, or 422
	// naming the version).
	ErrModelGone = errors.New("the model or its version is gone")
)

// Alert kinds.
const (
	AlertNoCredit  = "replicate_credit"
	AlertToken     = "replicate_token"
	AlertModelGone = "replicate_model"
	AlertBucket    = "bucket"
)

const alertPrefix = "alerts/"

// alertKey: the mark that the admins were told of kind this hour.
func alertKey(kind string, at time.Time) string {
	return alertPrefix + kind + "/" + at.UTC().Format("2006010215") + ".json"
}

// alertKind is the alert an error raises; "" for none.
func alertKind(err error) string {
	switch {
	case errors.Is(err, ErrNoCredit):
		return AlertNoCredit
	case errors.Is(err, ErrTokenRefused):
		return AlertToken
	case errors.Is(err, ErrModelGone):
		return AlertModelGone
	case errors.Is(err, ErrRefused):
		return AlertBucket
	}
	return ""
}

// alerted remembers, in this instance, the hours whose alert is known to
// be sent: it spares a write per photo while the fault lasts.
type alerted struct {
	mu   sync.Mutex
	hour map[string]string // by kind
}

// first reports whether kind was not yet known sent at hour, and marks it.
func (a *alerted) first(kind, hour string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hour == nil {
		a.hour = map[string]string{}
	}
	if a.hour[kind] == hour {
		return false
	}
	a.hour[kind] = hour
	return true
}

// alert tells the admins about err, when it is one that raises an alert
// and they were not told this hour. It is bounded and never fails the
// photo.
func (b *Bot) alert(ctx context.Context, err error) {
	kind := alertKind(err)
	if kind == "" {
		return
	}
	now := b.now().UTC()
	log := b.log.With("alert", kind)
	if !b.alerts.first(kind, now.Format("2006010215")) {
		return
	}
	cause := shorten(redactURLs(err.Error()), 500)
	ids := b.opt.Admins.ids
	if len(ids) == 0 {
		log.Error("photos are refused, and there is no admin to alert: put numeric ids in ADMIN_USERS", "cause", cause)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opt.CallTimeout)
	defer cancel()
	_, cerr := b.store.Create(ctx, alertKey(kind, now), []byte(`{}`))
	switch {
	case errors.Is(cerr, ErrExists):
		return // another request told them
	case cerr != nil:
		log.Warn("could not mark the alert sent; telling the admins from this instance", "err", cerr)
	}
	text := alertText(kind, cause)
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if serr := b.chat.Send(ctx, &Reply{ChatID: id, Text: text}); serr != nil {
			log.Warn("could not alert an admin (have they started the bot?)", "admin", id, "err", serr)
		}
	}
	log.Error("photos are refused; admins alerted", "cause", cause)
	if b.ledger != nil {
		if lerr := b.ledger.Alerted(ctx, &Alert{Kind: kind, At: now}); lerr != nil {
			log.Warn("the alert was not recorded for /stats", "err", lerr)
		}
	}
}

// alertText says what is wrong and what to do, in English and Russian
// (an admin's language is not known when an alert is sent).
func alertText(kind, cause string) string {
	w := alertWords[kind]
	return "⚠️ " + w[0] + "\n\n" + w[1] + "\n\n(" + cause + ")"
}

// alertWords: English, Russian.
var alertWords = map[string][2]string{
	AlertNoCredit: {
		"Replicate says the account is out of credit: every photo is refused until you top up. " +
			"Top up your Replicate balance at https://replicate.com/account/billing; the bot resumes by itself a few minutes later.",
		"Replicate сообщает, что на счёте закончились деньги: все фото отклоняются. " +
			"Пополните баланс Replicate на https://replicate.com/account/billing — бот заработает сам через несколько минут.",
	},
	AlertToken: {
		"REPLICATE_API_TOKEN was refused: the token is wrong or revoked, and every photo is refused. " +
			"Create a token at https://replicate.com/account/api-tokens, put it in REPLICATE_API_TOKEN and deploy again (photobot doctor checks it).",
		"Replicate не принимает REPLICATE_API_TOKEN: токен неверный или отозван, все фото отклоняются. " +
			"Создайте токен на https://replicate.com/account/api-tokens, укажите его в REPLICATE_API_TOKEN и разверните бота заново (photobot doctor проверит).",
	},
	AlertModelGone: {
		"Replicate says a model or its version is gone: photos for it are refused. " +
			"Check the model on replicate.com and fix REPLICATE_MODEL or EFFECTS (photobot doctor checks every model).",
		"Replicate сообщает, что модели или её версии больше нет: фото для неё отклоняются. " +
			"Проверьте модель на replicate.com и исправьте REPLICATE_MODEL или EFFECTS (photobot doctor проверит все модели).",
	},
	AlertBucket: {
		"The bucket refuses photobot's requests (access denied, or no such bucket): photos cannot be taken. " +
			"Check S3_BUCKET and the service account's role on the bucket (storage.editor); photobot doctor checks both.",
		"Бакет отказывает photobot в доступе (нет прав или нет такого бакета): фото не принимаются. " +
			"Проверьте S3_BUCKET и роль сервисного аккаунта на бакете (storage.editor); photobot doctor проверит.",
	},
}
