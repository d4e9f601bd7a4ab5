package replicate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// ErrBadSignature means a webhook's signature headers are missing, do not
// match its body, or carry a timestamp more than 5 minutes away from now.
var ErrBadSignature = errors.New("replicate webhook: bad signature")

// Verifier checks that webhooks come from Replicate (the Standard Webhooks
// scheme: HMAC-SHA256 over "id.timestamp.body", constant-time compare, a
// 5-minute window against replays).
type Verifier struct {
	fetch func(context.Context) (string, error)

	mu sync.Mutex
	wh *standardwebhooks.Webhook
}

// NewVerifier verifies with secret ("whsec_..."); when secret is empty it is
// fetched from the API on first use and cached (a failed fetch is not
// cached, so the next webhook tries again).
func NewVerifier(secret string, c *Client) (*Verifier, error) {
	v := &Verifier{}
	if secret != "" {
		wh, err := newWebhook(secret)
		if err != nil {
			return nil, err
		}
		v.wh = wh
		return v, nil
	}
	if c == nil {
		return nil, errors.New("replicate webhook: no secret and no client to fetch it")
	}
	v.fetch = c.WebhookSecret
	return v, nil
}

func newWebhook(secret string) (*standardwebhooks.Webhook, error) {
	if !strings.HasPrefix(secret, "whsec_") {
		return nil, errors.New("replicate webhook secret must start with whsec_")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, errors.New("replicate webhook secret is not valid base64 after whsec_")
	}
	return wh, nil
}

// Verify checks body against the webhook-id, webhook-timestamp and
// webhook-signature headers. It returns ErrBadSignature for a forged,
// altered or stale request, and another error when the secret could not be
// fetched (a transient failure: the caller should ask for a retry).
func (v *Verifier) Verify(ctx context.Context, body []byte, h http.Header) error {
	wh, err := v.webhook(ctx)
	if err != nil {
		return err
	}
	if err := wh.Verify(body, h); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, errors.Unwrap(err))
	}
	return nil
}

func (v *Verifier) webhook(ctx context.Context) (*standardwebhooks.Webhook, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.wh != nil {
		return v.wh, nil
	}
	secret, err := v.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching the webhook secret: %w", err)
	}
	wh, err := newWebhook(secret)
	if err != nil {
		return nil, err
	}
	v.wh = wh
	return wh, nil
}
