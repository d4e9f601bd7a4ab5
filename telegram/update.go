package telegram

import (
	"encoding/json"
	"time"

	"github.com/photobot/photobot/pipeline"
)

// MaxDownloadSize is the largest file a bot may download through the
// public Bot API.
const MaxDownloadSize = 20 << 20

// AllowedUpdates are the kinds of update the bot reads: messages (photos,
// commands, and successful_payment, which comes as a message), presses of
// its buttons, and pre_checkout_query, the question Telegram asks before a
// payment in Stars.
var AllowedUpdates = []string{"message", "callback_query", PreCheckoutUpdate}

// PreCheckoutUpdate is the kind of update that asks whether a payment may
// go ahead: a bot that does not receive it cannot be paid.
const PreCheckoutUpdate = "pre_checkout_query"

// The wire form of the parts of an Update photobot reads
// (core.telegram.org/bots/api#update). Decoding into these small structs
// instead of go-telegram's models.Update costs a fraction of the
// allocations on every webhook.
type wireUpdate struct {
	UpdateID      int64            `json:"update_id"`
	Message       *wireMessage     `json:"message"`
	CallbackQuery *wireCallback    `json:"callback_query"`
	PreCheckout   *wirePreCheckout `json:"pre_checkout_query"`
}

type wireUser struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

type wireChat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

type wirePhotoSize struct {
	FileID   string `json:"file_id"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	FileSize int64  `json:"file_size"`
}

type wireDocument struct {
	FileID   string `json:"file_id"`
	MimeType string `json:"mime_type"`
	FileSize int64  `json:"file_size"`
}

type wireMessage struct {
	MessageID    int              `json:"message_id"`
	From         *wireUser        `json:"from"`
	Chat         wireChat         `json:"chat"`
	Date         int64            `json:"date"`
	Text         string           `json:"text"`
	Caption      string           `json:"caption"`
	MediaGroupID string           `json:"media_group_id"`
	Photo        []wirePhotoSize  `json:"photo"`
	Document     *wireDocument    `json:"document"`
	ReplyTo      *wireMessage     `json:"reply_to_message"`
	Sticker      *json.RawMessage `json:"sticker"`
	Voice        *json.RawMessage `json:"voice"`
	Video        *json.RawMessage `json:"video"`
	Audio        *json.RawMessage `json:"audio"`
	Animation    *json.RawMessage `json:"animation"`
	VideoNote    *json.RawMessage `json:"video_note"`
	// Service messages about payments in Stars.
	Payment  *wirePayment     `json:"successful_payment"`
	Refunded *json.RawMessage `json:"refunded_payment"`
}

// wirePayment is a SuccessfulPayment; wirePreCheckout a PreCheckoutQuery
// (core.telegram.org/bots/api#successfulpayment, #precheckoutquery).
type wirePayment struct {
	Currency    string `json:"currency"`
	TotalAmount int    `json:"total_amount"`
	Payload     string `json:"invoice_payload"`
	ChargeID    string `json:"telegram_payment_charge_id"`
}

type wirePreCheckout struct {
	ID          string   `json:"id"`
	From        wireUser `json:"from"`
	Currency    string   `json:"currency"`
	TotalAmount int      `json:"total_amount"`
	Payload     string   `json:"invoice_payload"`
}

type wireCallback struct {
	ID      string       `json:"id"`
	From    wireUser     `json:"from"`
	Message *wireMessage `json:"message"`
	Data    string       `json:"data"`
}

// DecodeUpdate reads an update as Telegram posts it to a webhook.
func DecodeUpdate(data []byte) (*pipeline.Update, error) {
	var w wireUpdate
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	return w.core(), nil
}

func (w *wireUpdate) core() *pipeline.Update {
	u := &pipeline.Update{ID: w.UpdateID}
	// A refunded_payment message only confirms a refund the bot made
	// (or Telegram made): the core learns nothing from it.
	if w.Message != nil && w.Message.Refunded == nil {
		u.Message = w.Message.core()
	}
	if q := w.PreCheckout; q != nil {
		u.PreCheckout = &pipeline.PreCheckout{ID: q.ID, From: *q.From.core(), Currency: q.Currency,
			Stars: q.TotalAmount, Payload: q.Payload}
	}
	if c := w.CallbackQuery; c != nil && c.Message != nil {
		p := &pipeline.Press{ID: c.ID, From: *c.From.core(), ChatID: c.Message.Chat.ID, Data: c.Data}
		// A message older than 48 hours comes as an inaccessible one:
		// date 0, nothing but its chat and id.
		if c.Message.Date != 0 {
			p.MessageID, p.OnText = c.Message.MessageID, c.Message.Text != ""
			if c.Message.ReplyTo != nil {
				p.Photo = c.Message.ReplyTo.core()
			}
		}
		u.Press = p
	}
	return u
}

func (u *wireUser) core() *pipeline.User {
	if u == nil {
		return nil
	}
	return &pipeline.User{ID: u.ID, Username: u.Username, Language: u.LanguageCode}
}

// imageTypes are the files sent "as file" that photobot takes for photos.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/webp": true}

func (m *wireMessage) core() *pipeline.Message {
	msg := &pipeline.Message{ID: m.MessageID, ChatID: m.Chat.ID, Private: m.Chat.Type == "private",
		From: m.From.core(), Date: time.Unix(m.Date, 0), Text: m.Text, Caption: m.Caption, Album: m.MediaGroupID}
	switch {
	case len(m.Photo) > 0:
		// The sizes' order is not promised: take the largest by area.
		best := m.Photo[0]
		for _, p := range m.Photo[1:] {
			if p.Width*p.Height > best.Width*best.Height {
				best = p
			}
		}
		msg.File = &pipeline.File{ID: best.FileID, Size: best.FileSize, Image: true}
	case m.Document != nil:
		d := m.Document
		msg.File = &pipeline.File{ID: d.FileID, Size: d.FileSize, Image: imageTypes[d.MimeType]}
	case m.Sticker != nil || m.Voice != nil || m.Video != nil || m.Audio != nil || m.Animation != nil || m.VideoNote != nil:
		msg.File = &pipeline.File{}
	}
	if msg.File != nil && msg.File.Size > MaxDownloadSize {
		msg.File.TooBig = true
	}
	if p := m.Payment; p != nil {
		msg.Payment = &pipeline.Payment{Currency: p.Currency, Stars: p.TotalAmount, Payload: p.Payload, ChargeID: p.ChargeID}
	}
	return msg
}
