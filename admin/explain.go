package admin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/s3store"
	"github.com/photobot/photobot/telegram"
)

// What went wrong with a service, told apart because each calls for
// another remedy: a network that does not reach it, credentials it
// refuses, something that does not exist there, or a request to wait.
type trouble int

const (
	other trouble = iota
	unreachable
	refused
	notFound
	throttled
)

func troubleOf(err error) trouble {
	var te *telegram.Error
	var re *replicate.Error
	switch {
	case errors.As(err, &te):
		switch {
		case te.Unreachable():
			return unreachable
		case te.Code == http.StatusUnauthorized || te.Code == http.StatusNotFound && te.Method == "getMe":
			// A revoked or mistyped token: 401, or 404 for a token
			// the Bot API cannot even route.
			return refused
		case te.Code == http.StatusTooManyRequests:
			return throttled
		}
	case errors.As(err, &re):
		switch {
		case re.Unreachable():
			return unreachable
		case re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden:
			return refused
		case re.Status == http.StatusNotFound:
			return notFound
		case re.Status == http.StatusTooManyRequests:
			return throttled
		}
	}
	return other
}

// telegramHint says what to do about a failed call to the Bot API.
func telegramHint(err error, apiURL string) string {
	switch troubleOf(err) {
	case unreachable:
		return fmt.Sprintf("this machine cannot reach %s: check the network, a proxy (HTTPS_PROXY) or TELEGRAM_API_URL", apiURL)
	case refused:
		return "Telegram refuses TG_BOT_TOKEN: copy the token again from @BotFather (/mybots → API Token); revoking it makes a new one"
	case throttled:
		return "Telegram asks to wait (too many requests): try again in a minute"
	}
	return ""
}

// replicateHint says what to do about a failed call to Replicate; model
// names the model when the call was about one.
func replicateHint(err error, apiURL, model string) string {
	switch troubleOf(err) {
	case unreachable:
		return fmt.Sprintf("this machine cannot reach %s: check the network, a proxy (HTTPS_PROXY) or REPLICATE_API_URL", apiURL)
	case refused:
		return "Replicate refuses REPLICATE_API_TOKEN: create a token at https://replicate.com/account/api-tokens"
	case notFound:
		if model != "" {
			return fmt.Sprintf("Replicate has no model %s (or not that version): copy owner/name:version from the model's API tab on replicate.com", model)
		}
	case throttled:
		return "Replicate throttles this account: wait a minute, and check its billing at https://replicate.com/account/billing"
	}
	var re *replicate.Error
	if errors.As(err, &re) && re.Status == http.StatusUnprocessableEntity && model != "" {
		return fmt.Sprintf("Replicate cannot run %s with this account: check the version id, and that the model is public or yours", model)
	}
	return ""
}

// storeHint says what to do about a failed call to the bucket.
func storeHint(err error) string {
	if h := s3store.Hint(err); h != "" {
		return h
	}
	return "check S3_BUCKET, S3_ENDPOINT_URL, S3_REGION and the access key's role (storage.editor)"
}
