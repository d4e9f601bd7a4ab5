package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/google/uuid"

	"github.com/photobot/photobot/replicate"
	"github.com/photobot/photobot/telegram"
)

// Reply is a message for the user that the transport sends: as the webhook's
// answer (saving a round trip) or with sendMessage.
type Reply struct {
	ChatID  int64
	Text    string
	ReplyTo int // message id; 0 for none
}

// GiveUpAfter is how long after a message was sent photobot keeps asking
// Telegram to redeliver it on transient failures. After that the user is
// told the service is busy and the update is answered, so that a long
// outage does not block the chat's queue for a day.
const GiveUpAfter = 10 * time.Minute

// updateLeaseTTL: a claim on an update older than this is taken over. It
// exceeds the longest the handler may run (the webhook deadline).
const updateLeaseTTL = 2 * time.Minute

// HandleUpdate is what happens when a Telegram update arrives. It returns
// the reply to send (nil for none) and an error only for transient failures,
// which the transport answers so that Telegram delivers the update again;
// every permanent failure becomes a reply instead.
//
// A photo goes: [claim the update (once only) → reserve the user's quota]
// ∥ [getFile → download → store → presign]; then create the prediction;
// then save the task ∥ mark the update done ∥ claim the album's
// acknowledgement; then "accepted", in the webhook's answer. Five round
// trips in a row, whatever the bookkeeping.
func (b *Bot) HandleUpdate(ctx context.Context, u *models.Update) (*Reply, error) {
	msg := u.Message
	if msg == nil {
		return nil, nil // edits, callbacks, ...: nothing to do
	}
	var lang string
	if msg.From != nil {
		lang = msg.From.LanguageCode
	}
	t := textsFor(lang)
	reply := func(text string) *Reply { return &Reply{ChatID: msg.Chat.ID, Text: text, ReplyTo: msg.ID} }
	private := msg.Chat.Type == models.ChatTypePrivate
	img, ok := imageOf(msg)
	if b.Allowed != nil && !b.Allowed.Has(msg.From) {
		if ok || private || strings.HasPrefix(msg.Text, "/") {
			return reply(t.NotAllowed), nil // costs nothing: no download, no prediction
		}
		return nil, nil
	}
	if !ok {
		if private || strings.HasPrefix(msg.Text, "/") {
			return &Reply{ChatID: msg.Chat.ID, Text: fmt.Sprintf(t.Help, b.Model.Short())}, nil
		}
		return nil, nil // chatter in a group: stay quiet
	}
	if !img.isImage {
		return reply(t.NotAnImage), nil
	}
	if img.size > telegram.MaxDownloadSize {
		return reply(t.TooBig), nil
	}
	log := b.Log.With("update_id", u.ID, "chat_id", msg.Chat.ID)

	// Claim the update (and reserve the user's quota) while the photo
	// travels: only one delivery of an update may create a prediction, but
	// the claim must not cost a round trip of its own.
	limited := b.limited(msg.From)
	claimed := make(chan claimResult, 1)
	go func() {
		l, err := b.acquire(ctx, updateKey(u.ID), updateLeaseTTL, b.accepted)
		if err == nil && limited {
			cctx, cancel := b.call(ctx)
			err = b.reserve(cctx, msg.From.ID, u.ID) // a refusal keeps the lease: it becomes a message
			cancel()
		}
		claimed <- claimResult{l, err}
	}()
	url, imageKey, fetchErr := b.fetchImage(ctx, img)
	c := <-claimed
	switch {
	case errors.Is(c.err, errDone):
		log.Info("duplicate update ignored")
		b.dropImage(ctx, imageKey)
		return nil, nil
	case c.err != nil:
		b.dropImage(ctx, imageKey)
		return b.failed(ctx, c.lease, msg, t, c.err, log)
	case fetchErr != nil:
		b.refund(ctx, msg, u.ID, limited, log)
		return b.failed(ctx, c.lease, msg, t, fetchErr, log)
	}

	p, err := b.createPrediction(ctx, url, msg.Caption)
	if err != nil {
		b.refund(ctx, msg, u.ID, limited, log)
		return b.failed(ctx, c.lease, msg, t, err, log)
	}
	log = log.With("prediction_id", p.ID)

	task := Task{ChatID: msg.Chat.ID, FileID: img.fileID, Timestamp: b.now().Unix(), MessageID: msg.ID,
		UpdateID: u.ID, Language: lang, Image: imageKey}
	if msg.From != nil {
		task.UserID = msg.From.ID
	}
	// Save the task, mark the update done and, for an album, find out
	// whether the user was already told: all at once.
	finished := make(chan error, 1)
	go func() { finished <- b.finish(ctx, c.lease, p.ID) }()
	firstOfAlbum := make(chan bool, 1)
	go func() { firstOfAlbum <- b.firstOfAlbum(ctx, msg, log) }()
	saveErr := b.saveTask(ctx, p.ID, task)
	finishErr := <-finished
	tell := <-firstOfAlbum
	if saveErr != nil {
		// Without its task the result could never be delivered: cancel the
		// prediction so it is not billed, and let Telegram retry the update.
		cctx, cancel := cleanup(ctx)
		defer cancel()
		if err := b.Replicate.Cancel(cctx, p.ID); err != nil {
			log.Error("could not cancel a prediction whose task was not saved", "err", err)
		}
		b.refund(ctx, msg, u.ID, limited, log)
		return b.failed(ctx, c.lease, msg, t, saveErr, log)
	}
	if finishErr != nil {
		log.Warn("update not marked done; a redelivery would be taken for new", "err", finishErr)
	}
	log.Info("photo accepted", "image", imageKey)
	if b.Watch != nil {
		b.Watch(p.ID)
	}
	if !tell {
		return nil, nil // another photo of this album already said it
	}
	if msg.MediaGroupID != "" {
		return reply(t.AcceptedAlbum), nil
	}
	return reply(t.Accepted), nil
}

// createPrediction starts the model on the photo at url: REPLICATE_INPUT,
// the photo in ImageField, the caption in PromptField, a deadline, and the
// webhook unless the prediction is polled.
func (b *Bot) createPrediction(ctx context.Context, url, caption string) (*replicate.Prediction, error) {
	input := maps.Clone(b.Input)
	if input == nil {
		input = map[string]any{}
	}
	input[b.ImageField] = url
	if caption = strings.TrimSpace(caption); b.PromptField != "" && caption != "" {
		input[b.PromptField] = caption
	}
	opts := replicate.CreateOptions{CancelAfter: b.predictionDeadline()}
	if b.WebhookURL != "" {
		opts.Webhook, opts.Events = b.WebhookURL, []string{"completed"}
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	return b.Replicate.Create(ctx, b.Model, input, opts)
}

// firstOfAlbum reports whether msg is the first photo of its album to be
// accepted (or not part of an album): the user is told once per album.
func (b *Bot) firstOfAlbum(ctx context.Context, msg *models.Message, log *slog.Logger) bool {
	if msg.MediaGroupID == "" {
		return true
	}
	ctx, cancel := b.call(ctx)
	defer cancel()
	key := "albums/" + strconv.FormatInt(msg.Chat.ID, 10) + "_" + safeKey(msg.MediaGroupID) + ".json"
	_, err := b.Store.Create(ctx, key, []byte(`{}`))
	if errors.Is(err, ErrExists) {
		return false
	}
	if err != nil {
		log.Warn("album claim failed; telling the user anyway", "err", err)
	}
	return true
}

// refund gives back a quota reservation for a prediction not made.
func (b *Bot) refund(ctx context.Context, msg *models.Message, updateID int64, limited bool, log *slog.Logger) {
	if !limited {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := b.unreserve(cctx, msg.From.ID, updateID, true); err != nil {
		log.Warn("could not refund the user's quota; it frees itself after the deadline", "err", err)
	}
}

func isTelegramCode(err error, codes ...int) bool {
	var e *telegram.Error
	return errors.As(err, &e) && slices.Contains(codes, e.Code)
}

// safeKey keeps letters, digits, - and _ of an outside string.
func safeKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// accepted double-checks an update marked done: its task was saved, or
// its result delivered. The mark is written while the task is saved, to
// spare a round trip, so a failed save can leave a mark with no task.
func (b *Bot) accepted(ctx context.Context, rec leaseRecord) bool {
	if rec.PredictionID == "" || !replicate.ValidID(rec.PredictionID) {
		return true // refused for good (a message was sent): nothing to redo
	}
	if _, _, err := b.Store.Get(ctx, taskKey(rec.PredictionID)); !errors.Is(err, ErrNotFound) {
		return true // saved (or the store cannot tell: do not risk a second prediction)
	}
	return b.delivered(ctx, rec.PredictionID)
}

type claimResult struct {
	lease *lease
	err   error
}

// image is the file a message carries, if any.
type image struct {
	fileID  string
	size    int64
	isImage bool // false for documents that are not images
}

// imageOf picks the photo's largest size, or an image sent as a file.
func imageOf(msg *models.Message) (image, bool) {
	if len(msg.Photo) > 0 {
		best := msg.Photo[0]
		for _, p := range msg.Photo[1:] {
			if p.Width*p.Height > best.Width*best.Height {
				best = p
			}
		}
		return image{fileID: best.FileID, size: int64(best.FileSize), isImage: true}, true
	}
	if d := msg.Document; d != nil {
		switch d.MimeType {
		case "image/jpeg", "image/png", "image/webp":
			return image{fileID: d.FileID, size: d.FileSize, isImage: true}, true
		}
		return image{fileID: d.FileID, size: d.FileSize}, true
	}
	if msg.Sticker != nil || msg.Voice != nil || msg.Video != nil || msg.Audio != nil || msg.Animation != nil || msg.VideoNote != nil {
		return image{}, true
	}
	return image{}, false
}

// Permanent intake failures, each with its own message for the user.
var (
	errTooBig     = errors.New("file is over the 20 MB bots may download")
	errNotAnImage = errors.New("file is not an image")
)

var extensions = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// fetchImage streams the photo from Telegram into the image store and
// returns the URL the model reads it from, and its key.
func (b *Bot) fetchImage(ctx context.Context, img image) (url, key string, err error) {
	cctx, cancel := b.call(ctx)
	f, err := b.Telegram.GetFile(cctx, img.fileID)
	cancel()
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "file is too big") {
			return "", "", fmt.Errorf("%w: %w", errTooBig, err)
		}
		return "", "", err
	}
	if f.FileSize > telegram.MaxDownloadSize {
		return "", "", errTooBig
	}
	body, size, err := b.Telegram.Download(ctx, f.FilePath)
	if err != nil {
		return "", "", err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 512)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", "", fmt.Errorf("download: %w", err)
	}
	ctype := http.DetectContentType(head)
	ext, ok := extensions[ctype]
	if !ok {
		return "", "", fmt.Errorf("%w (%s)", errNotAnImage, ctype)
	}
	key = "images/input/" + uuid.NewString() + ext
	url, err = b.Images.StoreImage(ctx, key, br, size, ctype)
	if err != nil {
		return "", "", fmt.Errorf("storing the photo: %w", err)
	}
	return url, key, nil
}

// dropImage deletes a stored photo that no prediction will read.
func (b *Bot) dropImage(ctx context.Context, key string) {
	if key == "" {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := b.Store.Delete(cctx, key); err != nil {
		b.Log.Warn("could not delete an unused photo; the lifecycle rule will", "image", key, "err", err)
	}
}

// failed decides what a failure means for the user. Permanent failures get
// a message and the update is done. Transient ones release the claim and
// return the error so that Telegram delivers the update again, until the
// message is GiveUpAfter old: then the user is told to try later.
func (b *Bot) failed(ctx context.Context, l *lease, msg *models.Message, t *texts, err error, log *slog.Logger) (*Reply, error) {
	cctx, cancel := cleanup(ctx)
	defer cancel()
	reply := func(text string) (*Reply, error) {
		if l != nil {
			if err := b.finish(cctx, l, ""); err != nil {
				log.Warn("could not mark the update done", "err", err)
			}
		}
		return &Reply{ChatID: msg.Chat.ID, Text: text, ReplyTo: msg.ID}, nil
	}
	var rerr *replicate.Error
	switch {
	case errors.Is(err, errTooBig):
		return reply(t.TooBig)
	case errors.Is(err, errNotAnImage):
		return reply(t.NotAnImage)
	case errors.Is(err, errTooManyActive):
		return reply(fmt.Sprintf(t.LimitActive, b.MaxActive))
	case errors.Is(err, errDailyLimit):
		return reply(fmt.Sprintf(t.LimitDaily, b.DailyLimit))
	case errors.As(err, &rerr) && rerr.Status == http.StatusUnprocessableEntity:
		log.Warn("model rejected the input", "err", err)
		return reply(fmt.Sprintf(t.Rejected, shorten(rerr.Detail, 300)))
	case isTelegramCode(err, http.StatusBadRequest, http.StatusNotFound):
		log.Warn("Telegram would not give the photo", "err", err)
		return reply(t.NoDownload)
	case replicate.IsPermanent(err), telegram.IsPermanent(err):
		log.Error("photo refused: check the configuration", "err", err)
		return reply(t.Unavailable)
	case errors.Is(err, ErrInProgress):
		log.Warn("update is being handled by another delivery")
		return nil, err
	}
	if age := b.now().Sub(time.Unix(int64(msg.Date), 0)); age > GiveUpAfter {
		log.Error("giving up on a photo after transient failures", "age", age.Round(time.Second).String(), "err", err)
		return reply(t.Busy)
	}
	log.Warn("transient failure; Telegram will retry", "err", err)
	if l != nil {
		b.release(cctx, l)
	}
	return nil, err
}
