package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/pipeline"
)

// The operator's calls (photobot setup, doctor, run) and long polling.

// GetMe checks the token and returns the bot's user.
func (c *Client) GetMe(ctx context.Context) (*models.User, error) {
	var u *models.User
	err := c.do(ctx, "getMe", func(ctx context.Context) (err error) {
		u, err = c.api.GetMe(ctx)
		return err
	})
	return u, err
}

// SetWebhook points Telegram at a URL, with a secret Telegram echoes back
// in the X-Telegram-Bot-Api-Secret-Token header.
func (c *Client) SetWebhook(ctx context.Context, p *bot.SetWebhookParams) error {
	return c.do(ctx, "setWebhook", func(ctx context.Context) error {
		_, err := c.api.SetWebhook(ctx, p)
		return err
	})
}

// DeleteWebhook removes the webhook (pending updates are kept).
func (c *Client) DeleteWebhook(ctx context.Context) error {
	return c.do(ctx, "deleteWebhook", func(ctx context.Context) error {
		_, err := c.api.DeleteWebhook(ctx, &bot.DeleteWebhookParams{})
		return err
	})
}

// GetWebhookInfo reports the webhook's URL, queue length and last error.
func (c *Client) GetWebhookInfo(ctx context.Context) (*models.WebhookInfo, error) {
	var w *models.WebhookInfo
	err := c.do(ctx, "getWebhookInfo", func(ctx context.Context) (err error) {
		w, err = c.api.GetWebhookInfo(ctx)
		return err
	})
	return w, err
}

// SetMyCommands registers the command menu.
func (c *Client) SetMyCommands(ctx context.Context, p *bot.SetMyCommandsParams) error {
	return c.do(ctx, "setMyCommands", func(ctx context.Context) error {
		_, err := c.api.SetMyCommands(ctx, p)
		return err
	})
}

// GetUpdates long-polls for updates with update_id >= offset, waiting up to
// timeout. go-telegram/bot's own polling loop confirms an update before it is
// handled, which would lose it if handling fails; photobot confirms only
// handled updates, so it polls itself.
func (c *Client) GetUpdates(ctx context.Context, offset int64, timeout time.Duration, allowed []string) ([]*pipeline.Update, error) {
	body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": int(timeout / time.Second), "allowed_updates": allowed})
	// Telegram answers within timeout; a little more covers the way there
	// and back.
	ctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/bot"+c.token+"/getUpdates", strings.NewReader(string(body)))
	if err != nil {
		return nil, c.classify("getUpdates", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.poll.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: c.base + "/bot<token>/getUpdates", Err: ue.Err}
		}
		return nil, c.classify("getUpdates", err)
	}
	defer resp.Body.Close()
	var r struct {
		OK          bool         `json:"ok"`
		Result      []wireUpdate `json:"result"`
		ErrorCode   int          `json:"error_code"`
		Description string       `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&r); err != nil {
		return nil, &Error{Method: "getUpdates", Desc: fmt.Sprintf("bad answer (%s): %v", resp.Status, err), err: err}
	}
	if !r.OK {
		return nil, &Error{Method: "getUpdates", Code: r.ErrorCode, Desc: r.Description,
			RetryAfter: time.Duration(r.Parameters.RetryAfter) * time.Second}
	}
	updates := make([]*pipeline.Update, len(r.Result))
	for i := range r.Result {
		updates[i] = r.Result[i].core()
	}
	return updates, nil
}
