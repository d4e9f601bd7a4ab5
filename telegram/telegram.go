// Package telegram is photobot's Telegram Bot API client: a thin layer over
// github.com/go-telegram/bot that adds what a serverless webhook needs:
// bounded retries of transient failures, classification of errors into
// permanent and transient, streaming file downloads, and redaction of the
// bot token from every error.
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

	"github.com/photobot/photobot/internal/retry"
)

// DefaultAPIURL is the public Bot API server.
const DefaultAPIURL = "https://api.telegram.org"

// MaxDownloadSize is the largest file a bot may download through the
// public Bot API.
const MaxDownloadSize = 20 << 20

// Client calls the Bot API. It is safe for concurrent use.
type Client struct {
	api   *bot.Bot
	base  string
	token string
	http  *http.Client

	// Policy retries calls that fail transiently (5xx, 429, network
	// errors): 3 attempts, 200 ms then doubling, a retry_after of at most
	// 3 s honoured; a longer one is returned as a transient error.
	retry.Policy
}

// New returns a client for the Bot API at base (DefaultAPIURL when empty).
// hc carries the per-call timeouts; nil means a client with a 30 s timeout.
func New(base, token string, hc *http.Client) (*Client, error) {
	if base == "" {
		base = DefaultAPIURL
	}
	base = strings.TrimRight(base, "/")
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	api, err := bot.New(token,
		bot.WithSkipGetMe(),
		bot.WithServerURL(base),
		bot.WithHTTPClient(hc.Timeout, hc),
		bot.WithErrorsHandler(func(error) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	return &Client{api: api, base: base, token: token, http: hc,
		Policy: retry.Policy{Attempts: 3, Backoff: 200 * time.Millisecond, MaxRetryAfter: 3 * time.Second}}, nil
}

// Error is a failure answered by the Bot API, or a failure to reach it.
type Error struct {
	Method     string
	Code       int    // Bot API error_code; 0 when the server was not reached or answered garbage
	Desc       string // Bot API description, or the transport error
	RetryAfter time.Duration
	err        error
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Desc)
	}
	return fmt.Sprintf("telegram %s: %s", e.Method, e.Desc)
}

func (e *Error) Unwrap() error { return e.err }

// Permanent reports whether retrying the same call cannot help: the
// request itself was refused (400, 401, 403, 404), as when the user blocked
// the bot or the file is too big. Everything else (429, 5xx, timeouts,
// network errors) is transient.
func (e *Error) Permanent() bool {
	switch e.Code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// IsPermanent reports whether err is a permanent Bot API failure.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// IsURLRefused reports whether Telegram could not use a URL it was asked to
// fetch (unreachable, not an image, too big): the caller should download the
// file and upload it instead.
func IsURLRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != http.StatusBadRequest {
		return false
	}
	d := strings.ToLower(e.Desc)
	for _, s := range []string{"failed to get http url content", "wrong type of the web page content",
		"wrong file identifier/http url specified", "file is too big", "too big for a photo", "photo_invalid_dimensions",
		"image_process_failed", "webpage_curl_failed", "webpage_media_empty"} {
		if strings.Contains(d, s) {
			return true
		}
	}
	return false
}

// classify turns an error of go-telegram/bot into an *Error with the token
// removed from its text.
func (c *Client) classify(method string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Method: method, err: err}
	var tooMany *bot.TooManyRequestsError
	var migrate *bot.MigrateError
	switch {
	case errors.As(err, &tooMany):
		e.Code = http.StatusTooManyRequests
		e.RetryAfter = time.Duration(tooMany.RetryAfter) * time.Second
	case errors.As(err, &migrate):
		e.Code = http.StatusBadRequest
	case errors.Is(err, bot.ErrorBadRequest):
		e.Code = http.StatusBadRequest
	case errors.Is(err, bot.ErrorUnauthorized):
		e.Code = http.StatusUnauthorized
	case errors.Is(err, bot.ErrorForbidden):
		e.Code = http.StatusForbidden
	case errors.Is(err, bot.ErrorNotFound):
		e.Code = http.StatusNotFound
	case errors.Is(err, bot.ErrorConflict):
		e.Code = http.StatusConflict
	}
	e.Desc = c.redact(err.Error())
	// go-telegram/bot prefixes the description with its sentinel's text.
	for _, p := range []string{"bad request, ", "unauthorized, ", "forbidden, ", "not found, ", "conflict, ", "too many requests, "} {
		if strings.HasPrefix(e.Desc, p) {
			e.Desc = strings.TrimPrefix(e.Desc, p)
			break
		}
	}
	return e
}

func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "<token>")
}

// do runs call, retrying transient failures a bounded number of times.
func (c *Client) do(ctx context.Context, method string, call func(context.Context) error) error {
	return c.Policy.Do(ctx, func(ctx context.Context) error { return c.classify(method, call(ctx)) },
		func(err error) (bool, time.Duration) {
			var e *Error
			if errors.As(err, &e) && (e.Permanent() || e.Code == http.StatusConflict) {
				return false, 0
			}
			if errors.As(err, &e) {
				return true, e.RetryAfter
			}
			return true, 0
		})
}

// GetFile resolves a file id to its size and download path.
func (c *Client) GetFile(ctx context.Context, fileID string) (*models.File, error) {
	var f *models.File
	err := c.do(ctx, "getFile", func(ctx context.Context) (err error) {
		f, err = c.api.GetFile(ctx, &bot.GetFileParams{FileID: fileID})
		return err
	})
	return f, err
}

// Download opens the file at path (from GetFile) for reading. The caller
// closes the body. The download URL contains the bot token: it never
// leaves this function, not even in errors.
func (c *Client) Download(ctx context.Context, path string) (body io.ReadCloser, size int64, err error) {
	err = c.do(ctx, "download", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/file/bot"+c.token+"/"+path, nil)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // drop the URL: it holds the token
			}
			return fmt.Errorf("download: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			code := resp.StatusCode
			if code == http.StatusNotFound || code == http.StatusBadRequest || code == http.StatusForbidden {
				return fmt.Errorf("%w, download answered %s", bot.ErrorNotFound, resp.Status)
			}
			return fmt.Errorf("download answered %s", resp.Status)
		}
		body, size = resp.Body, resp.ContentLength
		return nil
	})
	return body, size, err
}

// ReplyTo makes a message a reply to the user's message id, still sent when
// that message has been deleted.
func ReplyTo(messageID int) *models.ReplyParameters {
	if messageID == 0 {
		return nil
	}
	return &models.ReplyParameters{MessageID: messageID, AllowSendingWithoutReply: true}
}

// SendMessage sends a text message.
func (c *Client) SendMessage(ctx context.Context, p *bot.SendMessageParams) error {
	return c.do(ctx, "sendMessage", func(ctx context.Context) error {
		_, err := c.api.SendMessage(ctx, p)
		return err
	})
}

// SendPhoto sends a photo given by URL, file id, or upload. An upload is
// read once, so it is not retried.
func (c *Client) SendPhoto(ctx context.Context, p *bot.SendPhotoParams) error {
	return c.once(ctx, "sendPhoto", isUpload(p.Photo), func(ctx context.Context) error {
		_, err := c.api.SendPhoto(ctx, p)
		return err
	})
}

// SendDocument sends a file as a document.
func (c *Client) SendDocument(ctx context.Context, p *bot.SendDocumentParams) error {
	return c.once(ctx, "sendDocument", isUpload(p.Document), func(ctx context.Context) error {
		_, err := c.api.SendDocument(ctx, p)
		return err
	})
}

// SendMediaGroup sends an album of 2 to 10 items.
func (c *Client) SendMediaGroup(ctx context.Context, p *bot.SendMediaGroupParams) error {
	upload := false
	for _, m := range p.Media {
		if ph, ok := m.(*models.InputMediaPhoto); ok && ph.MediaAttachment != nil {
			upload = true
		}
		if d, ok := m.(*models.InputMediaDocument); ok && d.MediaAttachment != nil {
			upload = true
		}
	}
	return c.once(ctx, "sendMediaGroup", upload, func(ctx context.Context) error {
		_, err := c.api.SendMediaGroup(ctx, p)
		return err
	})
}

// SendChatAction shows a status such as "sending photo..." in the chat.
func (c *Client) SendChatAction(ctx context.Context, chatID int64, action models.ChatAction) error {
	return c.classify("sendChatAction", func() error {
		_, err := c.api.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: chatID, Action: action})
		return err
	}())
}

func (c *Client) once(ctx context.Context, method string, upload bool, call func(context.Context) error) error {
	if upload {
		return c.classify(method, call(ctx))
	}
	return c.do(ctx, method, call)
}

func isUpload(f models.InputFile) bool {
	_, ok := f.(*models.InputFileUpload)
	return ok
}

// GetMe checks the token and returns the bot's user.
func (c *Client) GetMe(ctx context.Context) (*models.User, error) {
	var u *models.User
	err := c.do(ctx, "getMe", func(ctx context.Context) (err error) {
		u, err = c.api.GetMe(ctx)
		return err
	})
	return u, err
}

// SetWebhook points Telegram at url, with a secret Telegram echoes back in
// the X-Telegram-Bot-Api-Secret-Token header.
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
func (c *Client) GetUpdates(ctx context.Context, offset int64, timeout time.Duration, allowed []string) ([]*models.Update, error) {
	body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": int(timeout / time.Second), "allowed_updates": allowed})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/bot"+c.token+"/getUpdates", strings.NewReader(string(body)))
	if err != nil {
		return nil, c.classify("getUpdates", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := *c.http
	hc.Timeout = timeout + 10*time.Second
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, c.classify("getUpdates", err)
	}
	defer resp.Body.Close()
	var r struct {
		OK          bool             `json:"ok"`
		Result      []*models.Update `json:"result"`
		ErrorCode   int              `json:"error_code"`
		Description string           `json:"description"`
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
	return r.Result, nil
}
