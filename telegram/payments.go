package telegram

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/internal/tgtext"
	"github.com/photobot/photobot/pipeline"
)

// The pipeline.Payments port: payments in Telegram Stars
// (core.telegram.org/bots/payments-stars).

// What sendInvoice takes (core.telegram.org/bots/api#sendinvoice).
const (
	maxInvoiceTitle       = 32  // characters
	maxInvoiceDescription = 255 // characters
	maxInvoicePayload     = 128 // bytes
)

// CurrencyStars is the currency of digital goods: Telegram Stars, paid
// with no payment provider.
const CurrencyStars = "XTR"

// SendInvoice sends an invoice for inv.Stars Stars: one price, no provider
// token, a Pay button first and inv.Buttons under it. A title or a
// description over Telegram's limits is cut; a payload that is empty or
// over 128 bytes is refused before anything is sent (it is the core's own
// reference: cutting it would break it).
func (c *Client) SendInvoice(ctx context.Context, inv *pipeline.Invoice) error {
	if n := len(inv.Payload); n == 0 || n > maxInvoicePayload {
		return fmt.Errorf("telegram sendInvoice: the payload is %d bytes; Telegram takes 1-%d", n, maxInvoicePayload)
	}
	if inv.Stars < 1 || strings.TrimSpace(inv.Title) == "" || strings.TrimSpace(inv.Description) == "" {
		return fmt.Errorf("telegram sendInvoice: an invoice needs a title, a description and a price >= 1 Star (got %q, %q, %d)",
			inv.Title, inv.Description, inv.Stars)
	}
	title := tgtext.Clip(inv.Title, maxInvoiceTitle)
	p := &bot.SendInvoiceParams{ChatID: inv.ChatID, Title: title,
		Description: tgtext.Clip(inv.Description, maxInvoiceDescription), Payload: inv.Payload, Currency: CurrencyStars,
		Prices: []models.LabeledPrice{{Label: title, Amount: inv.Stars}}, ReplyParameters: replyTo(inv.ReplyTo)}
	if len(inv.Buttons) > 0 {
		p.ReplyMarkup = payKeyboard(inv.Stars, inv.Buttons)
	}
	return c.do(ctx, "sendInvoice", func(ctx context.Context) error {
		_, err := c.api.SendInvoice(ctx, p)
		return err
	})
}

// payKeyboard is an invoice's keyboard: the Pay button alone in the first
// row, as Telegram requires, then rows. Telegram shows "⭐" in its text as
// the Star icon. (Without rows no keyboard is sent: Telegram then shows
// its own Pay button, in the user's language.)
func payKeyboard(stars int, rows [][]pipeline.Button) map[string]any {
	type button struct {
		Text         string `json:"text"`
		CallbackData string `json:"callback_data,omitempty"`
		Pay          bool   `json:"pay,omitempty"`
	}
	kb := [][]button{{{Text: fmt.Sprintf("⭐ %d", stars), Pay: true}}}
	for _, row := range rows {
		var r []button
		for _, b := range row {
			r = append(r, button{Text: b.Text, CallbackData: b.Data})
		}
		kb = append(kb, r)
	}
	return map[string]any{"inline_keyboard": kb}
}

// AnswerPreCheckout accepts the payment queryID is about (refusal "") or
// refuses it, refusal being what the user is told. Telegram takes the
// answer within 10 s of the query; later it answers "query is too old".
func (c *Client) AnswerPreCheckout(ctx context.Context, queryID, refusal string) error {
	return c.do(ctx, "answerPreCheckoutQuery", func(ctx context.Context) error {
		_, err := c.api.AnswerPreCheckoutQuery(ctx, &bot.AnswerPreCheckoutQueryParams{PreCheckoutQueryID: queryID,
			OK: refusal == "", ErrorMessage: refusal})
		return err
	})
}

// RefundStars gives the payment chargeID back to userID. Telegram's
// CHARGE_ALREADY_REFUNDED (a second refund, or a retry of one whose answer
// was lost) wraps pipeline.ErrAlreadyRefunded.
func (c *Client) RefundStars(ctx context.Context, userID int64, chargeID string) error {
	return c.do(ctx, "refundStarPayment", func(ctx context.Context) error {
		_, err := c.api.RefundStarPayment(ctx, &bot.RefundStarPaymentParams{UserID: userID, TelegramPaymentChargeID: chargeID})
		return err
	})
}

// alreadyRefunded: refundStarPayment's 400 for a charge refunded before.
func (e *Error) alreadyRefunded() bool {
	return e.Code == http.StatusBadRequest && strings.Contains(e.Desc, "CHARGE_ALREADY_REFUNDED")
}

var _ pipeline.Payments = (*Client)(nil)
