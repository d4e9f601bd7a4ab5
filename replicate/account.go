package replicate

import (
	"context"
	"net/http"
	"strings"
)

// Account is the owner of the API token.
type Account struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Account checks the token and returns its owner.
func (c *Client) Account(ctx context.Context) (*Account, error) {
	var a Account
	if err := c.call(ctx, request{op: "get account", method: http.MethodGet, path: "/account"}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// WebhookSecret fetches the account's webhook signing secret ("whsec_...").
func (c *Client) WebhookSecret(ctx context.Context) (string, error) {
	var s struct {
		Key string `json:"key"`
	}
	if err := c.call(ctx, request{op: "get webhook secret", method: http.MethodGet, path: "/webhooks/default/secret"}, &s); err != nil {
		return "", err
	}
	if !strings.HasPrefix(s.Key, "whsec_") {
		return "", &Error{Op: "get webhook secret", Detail: "answer holds no whsec_ key"}
	}
	return s.Key, nil
}
