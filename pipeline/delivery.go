package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// deliveryLeaseTTL: a claim on a delivery older than this is taken over by
// a redelivered webhook. It exceeds the callback's deadline and is short
// enough for Replicate's retries (about a minute) to reach it.
const deliveryLeaseTTL = 40 * time.Second

// Limits of what Telegram accepts.
const (
	maxPhotoUpload    = 10 << 20
	maxDocumentUpload = 50 << 20
	maxAlbum          = 10
)

// HandlePrediction is what happens when a prediction is done: load its task,
// claim the delivery (once only), send the result, mark it delivered and
// delete the task. It returns nil when the webhook needs no retry,
// ErrUnknownPrediction or ErrInProgress when it should be retried later,
// and other errors for transient failures.
func (b *Bot) HandlePrediction(ctx context.Context, p *replicate.Prediction) error {
	if !replicate.ValidID(p.ID) {
		return ErrInvalidPrediction
	}
	if !p.Terminal() {
		return nil // only the final state is delivered
	}
	log := b.Log.With("prediction_id", p.ID, "status", p.Status)
	task, err := b.loadTask(ctx, p.ID)
	if errors.Is(err, ErrNotFound) {
		if b.delivered(ctx, p.ID) {
			log.Info("duplicate webhook ignored")
			return nil
		}
		log.Warn("no task for this prediction (yet); asking for a retry")
		return ErrUnknownPrediction
	}
	if errors.Is(err, ErrRefused) {
		log.Error("the store refuses to read the task: this result cannot be delivered until the bucket's access is fixed", "err", err)
	}
	if err != nil {
		return fmt.Errorf("loading task: %w", err)
	}
	log = log.With("chat_id", task.ChatID)

	l, err := b.acquire(ctx, deliveryKey(p.ID), deliveryLeaseTTL, nil)
	switch {
	case errors.Is(err, errDone):
		log.Info("duplicate webhook ignored")
		b.forget(ctx, p.ID, task, log)
		return nil
	case errors.Is(err, ErrRefused):
		// Claims are impossible here (the store's rights are wrong): better
		// one result sent without a claim than silence.
		log.Error("the store refuses the delivery claim; sending without it", "err", err)
		if err := b.send(ctx, task, p, log); err != nil && !telegram.IsPermanent(err) {
			return fmt.Errorf("sending the result: %w", err)
		}
		return nil
	case err != nil:
		return err
	}
	if err := b.send(ctx, task, p, log); err != nil {
		if !telegram.IsPermanent(err) {
			cctx, cancel := cleanup(ctx)
			defer cancel()
			b.release(cctx, l)
			return fmt.Errorf("sending the result: %w", err)
		}
		// Blocked by the user, chat gone...: nothing will ever help.
		log.Warn("result cannot be delivered", "err", err)
	} else {
		log.Info("result delivered")
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := b.finish(cctx, l, p.ID); err != nil {
		// The user has the result; a redelivery will find the lease busy
		// until it is stale. Answer success rather than risk a second copy.
		log.Warn("delivery not marked done", "err", err)
	}
	b.forget(cctx, p.ID, task, log)
	return nil
}

// delivered reports whether the prediction's result was already handled.
func (b *Bot) delivered(ctx context.Context, predictionID string) bool {
	ctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.Store.Get(ctx, deliveryKey(predictionID))
	if err != nil {
		return false
	}
	var rec leaseRecord
	return json.Unmarshal(data, &rec) == nil && rec.State == "done"
}

// forget deletes the task and the user's photo (the spec's cleanup) and
// frees the user's slot.
func (b *Bot) forget(ctx context.Context, predictionID string, t *Task, log *slog.Logger) {
	if t.UserID != 0 && (b.MaxActive > 0 || b.DailyLimit > 0) {
		if err := b.unreserve(ctx, t.UserID, t.UpdateID, false); err != nil {
			log.Warn("could not free the user's slot; it frees itself after the deadline", "err", err)
		}
	}
	if err := b.Store.Delete(ctx, taskKey(predictionID)); err != nil {
		log.Warn("could not delete the task; the lifecycle rule will", "err", err)
	}
	if t.Image != "" {
		if err := b.Store.Delete(ctx, t.Image); err != nil {
			log.Warn("could not delete the photo; the lifecycle rule will", "err", err)
		}
	}
}

// send tells the user how the prediction ended.
func (b *Bot) send(ctx context.Context, task *Task, p *replicate.Prediction, log *slog.Logger) error {
	t := textsFor(task.Language)
	switch p.Status {
	case replicate.Succeeded:
		out := parseOutput(p.Output)
		caption := t.caption(b.Model.Short(), p.Metrics.PredictTime)
		switch {
		case len(out.files) > 0:
			err := b.sendFiles(ctx, task, out.files, caption, log)
			var te *telegram.Error
			if errors.As(err, &te) && te.Permanent() && te.Code != http.StatusForbidden {
				// The file itself was refused or is gone: say so rather than nothing.
				log.Warn("result refused by Telegram", "err", err)
				return b.sendText(ctx, task, t.Undeliverable)
			}
			return err
		case out.text != "":
			return b.sendText(ctx, task, shorten(out.text, 4096))
		}
		return b.sendText(ctx, task, t.Empty)
	case replicate.Failed:
		if e := p.ErrorText(); e != "" {
			return b.sendText(ctx, task, fmt.Sprintf(t.Failed, shorten(e, 300)))
		}
		return b.sendText(ctx, task, t.FailedNoText)
	case replicate.Aborted:
		return b.sendText(ctx, task, t.Expired)
	default:
		return b.sendText(ctx, task, t.Canceled)
	}
}

func (b *Bot) sendText(ctx context.Context, task *Task, text string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	return b.Telegram.SendMessage(ctx, &bot.SendMessageParams{ChatID: task.ChatID, Text: text,
		ReplyParameters: telegram.ReplyTo(task.MessageID)})
}

// output is what a model returned: files (URLs) and/or text.
type output struct {
	files []string
	text  string
}

// parseOutput reads the shapes models return: a URL, a list of URLs, text,
// a list of text chunks, or an object holding URLs.
func parseOutput(raw json.RawMessage) output {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return output{}
	}
	var out output
	var chunks []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if isURL(x) {
				out.files = append(out.files, x)
			} else {
				chunks = append(chunks, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				if s, ok := e.(string); ok && isURL(s) {
					out.files = append(out.files, s)
				}
			}
		}
	}
	walk(v)
	out.text = strings.TrimSpace(strings.Join(chunks, ""))
	return out
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".webp": true}

func isImageURL(u string) bool {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return imageExt[strings.ToLower(path.Ext(u))]
}

// sendFiles sends one file as a photo (or document), several as an album.
// Telegram first gets the URLs; if it cannot fetch them, photobot downloads
// the files and uploads them.
func (b *Bot) sendFiles(ctx context.Context, task *Task, urls []string, caption string, log *slog.Logger) error {
	if len(urls) > maxAlbum {
		urls = urls[:maxAlbum]
	}
	b.uploading(ctx, task)
	if len(urls) == 1 {
		return b.sendFile(ctx, task, urls[0], caption, log)
	}
	media := make([]models.InputMedia, len(urls))
	for i, u := range urls {
		c := ""
		if i == 0 {
			c = caption
		}
		if isImageURL(u) {
			media[i] = &models.InputMediaPhoto{Media: u, Caption: c}
		} else {
			media[i] = &models.InputMediaDocument{Media: u, Caption: c}
		}
	}
	params := &bot.SendMediaGroupParams{ChatID: task.ChatID, Media: media, ReplyParameters: telegram.ReplyTo(task.MessageID)}
	err := b.Telegram.SendMediaGroup(ctx, params)
	if !telegram.IsURLRefused(err) {
		return err
	}
	log.Info("Telegram could not fetch the album; uploading it", "err", err)
	for i, u := range urls {
		data, err := b.download(ctx, u, maxPhotoUpload)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("result-%d%s", i+1, path.Ext(u))
		switch m := media[i].(type) {
		case *models.InputMediaPhoto:
			m.Media, m.MediaAttachment = "attach://"+name, bytes.NewReader(data)
		case *models.InputMediaDocument:
			m.Media, m.MediaAttachment = "attach://"+name, bytes.NewReader(data)
		}
	}
	return b.Telegram.SendMediaGroup(ctx, params)
}

// sendFile sends one result: by URL first, uploaded when Telegram refuses
// the URL; over 10 MB or not an image, as a document.
func (b *Bot) sendFile(ctx context.Context, task *Task, u, caption string, log *slog.Logger) error {
	reply := telegram.ReplyTo(task.MessageID)
	var err error
	if isImageURL(u) {
		err = b.Telegram.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: task.ChatID, Photo: &models.InputFileString{Data: u},
			Caption: caption, ReplyParameters: reply})
	} else {
		err = b.Telegram.SendDocument(ctx, &bot.SendDocumentParams{ChatID: task.ChatID, Document: &models.InputFileString{Data: u},
			Caption: caption, ReplyParameters: reply})
	}
	if !telegram.IsURLRefused(err) {
		return err
	}
	log.Info("Telegram could not fetch the result; uploading it", "err", err)
	data, err := b.download(ctx, u, maxDocumentUpload)
	if err != nil {
		return err
	}
	name := "result" + path.Ext(strings.SplitN(u, "?", 2)[0])
	if isImageURL(u) && len(data) <= maxPhotoUpload {
		err = b.Telegram.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: task.ChatID,
			Photo:   &models.InputFileUpload{Filename: name, Data: bytes.NewReader(data)},
			Caption: caption, ReplyParameters: reply})
		if !telegram.IsURLRefused(err) {
			return err
		}
		log.Info("Telegram refused the photo; sending it as a document", "err", err)
	}
	return b.Telegram.SendDocument(ctx, &bot.SendDocumentParams{ChatID: task.ChatID,
		Document: &models.InputFileUpload{Filename: name, Data: bytes.NewReader(data)},
		Caption:  caption, ReplyParameters: reply})
}

// uploading shows "sending photo…" in the chat while the result travels.
// It is a courtesy: its failure changes nothing.
func (b *Bot) uploading(ctx context.Context, task *Task) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = b.Telegram.SendChatAction(ctx, task.ChatID, models.ChatActionUploadPhoto)
}

// errResultGone: the model's output can no longer be fetched.
var errResultGone = &telegram.Error{Method: "download result", Code: http.StatusNotFound, Desc: "the model's output is gone"}

// download fetches a model output (public URLs on replicate.delivery).
func (b *Bot) download(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errResultGone
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading the result: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, errResultGone
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("downloading the result: %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("downloading the result: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, &telegram.Error{Method: "download result", Code: http.StatusBadRequest, Desc: "result is over Telegram's upload limit"}
	}
	return data, nil
}
