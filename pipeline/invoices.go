package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/photobot/photobot/internal/tgtext"
)

// invoiceRecord is invoices/{id}.json: the photo an invoice was sent for,
// so that paying it starts the effect without the user sending it again
// (a photo's file_id alone nearly fills the 128 bytes of a payload).
type invoiceRecord struct {
	ChatID    int64  `json:"chat_id"`
	MessageID int    `json:"message_id"` // the user's photo
	Private   bool   `json:"private,omitempty"`
	FileID    string `json:"file_id"`
	Effect    string `json:"effect"`
	Caption   string `json:"caption,omitempty"` // with the prompt
	UserID    int64  `json:"user_id"`
	Stars     int    `json:"stars"`
	At        int64  `json:"at"` // unix seconds
}

// message is the remembered photo as the message a job starts from.
func (inv *invoiceRecord) message(from *User, date time.Time) *Message {
	return &Message{ID: inv.MessageID, ChatID: inv.ChatID, Private: inv.Private, From: from, Date: date,
		Caption: inv.Caption, File: &File{ID: inv.FileID, Image: true}}
}

// invoiceID names the invoice of a job by its claim: a redelivery that
// sends the invoice again remembers the photo under the same name.
func invoiceID(claim string) string {
	sum := sha256.Sum256([]byte(claim))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func (b *Bot) loadInvoice(ctx context.Context, id string) (*invoiceRecord, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.store.Get(ctx, invoiceKey(id))
	if err != nil {
		return nil, err
	}
	var inv invoiceRecord
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("invoice %s is corrupt: %w", id, err)
	}
	return &inv, nil
}

// invoice answers a job whose price the balance cannot hold (nothing was
// downloaded or billed): an invoice for this photo, which remembers it,
// with the packs under it. A photo's update is then done; a press's claim
// is let go, so that the same button works once the balance can pay.
func (j *job) invoice(ctx context.Context) (*Response, error) {
	b, w := j.b, j.w
	cctx, cancel := cleanup(ctx)
	defer cancel()
	id := invoiceID(j.claimKey)
	rec, _ := json.Marshal(invoiceRecord{ChatID: j.photo.ChatID, MessageID: j.photo.ID, Private: j.photo.Private,
		FileID: j.photo.File.ID, Effect: j.effect.ID, Caption: j.photo.Caption, UserID: j.user.ID, Stars: j.price, At: b.now().Unix()})
	err := b.store.Put(cctx, invoiceKey(id), bytes.NewReader(rec), int64(len(rec)), "application/json")
	if err == nil {
		title := j.effect.Title.In(w.lang)
		err = b.pay.SendInvoice(cctx, &Invoice{ChatID: j.photo.ChatID, ReplyTo: j.photo.ID,
			Title:       tgtext.Clip(title, 32),
			Description: tgtext.Clip(fmt.Sprintf(w.InvoicePhoto, title, j.balance), 255),
			Payload:     b.payload(ref{user: j.user.ID, invoice: id, effect: j.effect.ID}),
			Stars:       j.price, Buttons: b.packButtons(w)})
	}
	if err != nil {
		return j.failed(ctx, err)
	}
	j.log.Info("balance too low: invoice sent", "stars", j.price, "balance", j.balance, "invoice", id)
	if j.press != nil {
		b.release(cctx, j.lease)
		if !j.answered {
			j.answer(w.NeedStars, false)
		}
		return nil, nil
	}
	j.done(cctx)
	return nil, nil
}

// packButtons offer the packs of STAR_PACKS: each press sends an invoice
// for one.
func (b *Bot) packButtons(w *words) [][]Button {
	var row []Button
	for _, n := range b.opt.StarPacks {
		row = append(row, Button{Text: fmt.Sprintf(w.PackButton, n), Data: button{act: actBuy, stars: n}.String()})
	}
	if row == nil {
		return nil
	}
	return [][]Button{row}
}

// buy is a press of a pack's button: an invoice for the pack.
func (b *Bot) buy(ctx context.Context, p *pressed, stars int) (*Response, error) {
	if b.pay == nil || !slices.Contains(b.opt.StarPacks, stars) {
		p.answer(p.w.PricesChanged, true)
		return nil, nil
	}
	cctx, cancel := b.call(ctx)
	defer cancel()
	err := b.pay.SendInvoice(cctx, &Invoice{ChatID: p.ChatID,
		Title:       tgtext.Clip(p.w.plural(stars, p.w.StarsN), 32),
		Description: tgtext.Clip(fmt.Sprintf(p.w.InvoicePack, p.w.plural(stars, p.w.StarsN)), 255),
		Payload:     b.payload(ref{user: p.From.ID, stars: stars}), Stars: stars})
	if err != nil {
		p.log.Warn("pack invoice not sent", "err", err)
		p.answer(p.w.BusyPress, true)
		return nil, nil
	}
	p.answer("", false)
	return nil, nil
}
