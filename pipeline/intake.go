package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Response is what the transport does after an update: send Reply (in the
// webhook's answer when it can, saving a round trip), and follow the
// prediction Started when there is no webhook (photobot run).
type Response struct {
	Reply   *Reply
	Started string
}

// HandleUpdate is what happens when a Telegram update arrives. It returns
// an error only for transient failures, which the transport answers so
// that Telegram delivers the update again; every permanent failure becomes
// a message instead.
func (b *Bot) HandleUpdate(ctx context.Context, u *Update) (*Response, error) {
	if u.Message == nil {
		return nil, nil // edits, channel posts, ...: nothing to do
	}
	msg := u.Message
	t := b.textsFor(language(msg.From))
	private := msg.Private
	command := strings.HasPrefix(msg.Text, "/")
	if b.opt.Allowed != nil && !b.opt.Allowed.Has(msg.From) {
		if msg.File != nil || private || command {
			return reply(msg, t.NotAllowed), nil // costs nothing: no download, no prediction
		}
		return nil, nil
	}
	if msg.File == nil {
		if private || command {
			return &Response{Reply: &Reply{ChatID: msg.ChatID, Text: t.help}}, nil
		}
		return nil, nil // chatter in a group: stay quiet
	}
	switch {
	case !msg.File.Image:
		return reply(msg, t.NotAnImage), nil
	case msg.File.TooBig:
		return reply(msg, t.TooBig), nil
	}
	j := b.newJob(u.ID, msg, msg.From, &b.opt.Effects[0], t)
	j.claim = updateKey(u.ID)
	return j.start(ctx)
}

// job is one photo on its way to a model: what every step of the intake
// needs to know.
type job struct {
	b      *Bot
	update int64    // the update that asked for it (the user's reservation)
	photo  *Message // the user's photo
	user   *User    // who asked: the sender, or who pressed the button
	effect *Effect
	t      *texts
	log    *slog.Logger

	claim   string // the key of the lease that makes it happen once
	lease   *lease
	limited bool // the user's limits apply
}

func (b *Bot) newJob(update int64, photo *Message, user *User, e *Effect, t *texts) *job {
	return &job{b: b, update: update, photo: photo, user: user, effect: e, t: t,
		limited: b.limited(user),
		log:     b.log.With("update_id", update, "chat_id", photo.ChatID, "effect", e.ID)}
}

// start is the photo's way to the model: [claim (once only) → reserve the
// user's quota] ∥ [getFile → download → store → presign]; then create the
// prediction; then save the task ∥ mark the claim done ∥ claim the album's
// acknowledgement; then "accepted", in the webhook's answer. Five round
// trips in a row, whatever the bookkeeping.
func (j *job) start(ctx context.Context) (*Response, error) {
	b := j.b
	claimed := make(chan error, 1)
	go func() { claimed <- j.claimAndReserve(ctx) }()
	url, image, fetchErr := j.fetch(ctx)
	err := <-claimed
	switch {
	case errors.Is(err, errDone):
		j.log.Info("duplicate update ignored")
		j.dropImage(ctx, image)
		return nil, nil
	case err != nil:
		j.dropImage(ctx, image)
		return j.failed(ctx, err)
	case fetchErr != nil:
		j.refund(ctx)
		return j.failed(ctx, fetchErr)
	}

	req := j.effect.request(url, j.photo.Caption)
	req.Webhook, req.Deadline = b.opt.WebhookURL, b.opt.PredictionDeadline
	cctx, cancel := b.call(ctx)
	id, err := b.models.Create(cctx, req)
	cancel()
	if err != nil {
		j.dropImage(ctx, image)
		j.refund(ctx)
		return j.failed(ctx, err)
	}
	j.log = j.log.With("prediction_id", id)

	// Save the task, mark the claim done and, for an album, find out
	// whether the user was already told: all at once.
	task := &Task{ChatID: j.photo.ChatID, FileID: j.photo.File.ID, Timestamp: b.now().Unix(),
		MessageID: j.photo.ID, UpdateID: j.update, Image: image, Effect: j.effect.ID}
	if j.user != nil {
		task.UserID, task.Language = j.user.ID, j.user.Language
	}
	finished := make(chan error, 1)
	go func() { finished <- b.finish(ctx, j.claim, stateDone, id) }()
	firstOfAlbum := make(chan bool, 1)
	go func() { firstOfAlbum <- j.firstOfAlbum(ctx) }()
	saveErr := b.saveTask(ctx, id, task)
	finishErr := <-finished
	tell := <-firstOfAlbum
	if saveErr != nil && j.abandon(ctx, id) {
		// Without its task the result could never be delivered: the
		// prediction is canceled so it is not billed, and Telegram retries
		// the update.
		j.dropImage(ctx, image)
		j.refund(ctx)
		return j.failed(ctx, saveErr)
	}
	if finishErr != nil {
		j.log.Warn("claim not marked done; a redelivery would be taken for new", "err", finishErr)
	}
	j.log.Info("photo accepted", "image", image)
	r := &Response{Started: id}
	switch {
	case !tell: // another photo of this album already said it
	case j.photo.Album != "":
		r.Reply = reply(j.photo, j.t.AcceptedAlbum).Reply
	default:
		r.Reply = reply(j.photo, j.t.Accepted).Reply
	}
	return r, nil
}

// claimAndReserve takes the job's lease and, when limits apply, counts the
// prediction against the user's quota. A refusal keeps the lease: it
// becomes a message, and the update is done.
func (j *job) claimAndReserve(ctx context.Context) error {
	l, err := j.b.acquire(ctx, j.claim, j.b.accepted)
	if err != nil {
		return err
	}
	j.lease = l
	if !j.limited {
		return nil
	}
	cctx, cancel := j.b.call(ctx)
	defer cancel()
	return j.b.reserve(cctx, j.user.ID, j.update)
}

var extensions = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// errNotAnImage: the file's bytes are not an image the models read.
var errNotAnImage = errors.New("file is not an image")

// fetch streams the photo from Telegram into the image store and returns
// the URL the model reads it from, and its key.
func (j *job) fetch(ctx context.Context) (url, key string, err error) {
	body, size, err := j.b.chat.OpenFile(ctx, j.photo.File.ID)
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
	key = imageKey(uuid.NewString(), ext)
	url, err = j.b.images.StoreImage(ctx, key, br, size, ctype)
	if err != nil {
		return "", "", fmt.Errorf("storing the photo: %w", err)
	}
	return url, key, nil
}

// firstOfAlbum reports whether the photo is the first of its album to be
// accepted (or not part of an album): the user is told once per album.
func (j *job) firstOfAlbum(ctx context.Context) bool {
	if j.photo.Album == "" {
		return true
	}
	ctx, cancel := j.b.call(ctx)
	defer cancel()
	_, err := j.b.store.Create(ctx, albumKey(j.photo.ChatID, j.photo.Album), []byte(`{}`))
	if errors.Is(err, ErrExists) {
		return false
	}
	if err != nil {
		j.log.Warn("album claim failed; telling the user anyway", "err", err)
	}
	return true
}

// abandon gives up a prediction whose task could not be saved: it marks
// its delivery abandoned (so that its webhook is expected, and answered
// 200) and cancels it. It reports false when the delivery had already
// begun: the task was saved after all, only the answer was lost.
func (j *job) abandon(ctx context.Context, id string) bool {
	cctx, cancel := cleanup(ctx)
	defer cancel()
	rec, _ := json.Marshal(leaseRecord{State: stateAbandoned, At: j.b.now().UnixMilli(), PredictionID: id})
	_, err := j.b.store.Create(cctx, deliveryKey(id), rec)
	switch {
	case errors.Is(err, ErrExists):
		j.log.Info("the task's save looked failed, but its result is being delivered: it was saved")
		return false
	case err != nil:
		j.log.Warn("could not mark the canceled prediction; its webhook will be answered 404", "err", err)
	}
	if err := j.b.models.Cancel(cctx, id); err != nil {
		j.log.Error("could not cancel a prediction whose task was not saved", "err", err)
	}
	return true
}

// refund gives back a quota reservation for a prediction not made.
func (j *job) refund(ctx context.Context) {
	if !j.limited {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := j.b.unreserve(cctx, j.user.ID, j.update, true); err != nil {
		j.log.Warn("could not refund the user's quota; it frees itself after the deadline", "err", err)
	}
}

// dropImage deletes a stored photo that no prediction will read.
func (j *job) dropImage(ctx context.Context, key string) {
	if key == "" {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := j.b.store.Delete(cctx, key); err != nil {
		j.log.Warn("could not delete an unused photo; the lifecycle rule will", "image", key, "err", err)
	}
}

// accepted double-checks a claim marked done: its task was saved, or its
// result delivered. The mark is written while the task is saved, to spare
// a round trip, so a failed save can leave a mark with no task.
func (b *Bot) accepted(ctx context.Context, rec leaseRecord) bool {
	if rec.PredictionID == "" || !validPredictionID(rec.PredictionID) {
		return true // refused for good (a message was sent): nothing to redo
	}
	cctx, cancel := b.call(ctx)
	_, _, err := b.store.Get(cctx, taskKey(rec.PredictionID))
	cancel()
	if !errors.Is(err, ErrNotFound) {
		return true // saved (or the store cannot tell: do not risk a second prediction)
	}
	// Delivered, or canceled by the user: done. Abandoned (its task was
	// never saved): to be redone.
	d, ok := b.readLease(ctx, deliveryKey(rec.PredictionID))
	return ok && (d.State == stateDone || d.State == stateCanceled)
}

// reply answers msg with text.
func reply(msg *Message, text string) *Response {
	return &Response{Reply: &Reply{ChatID: msg.ChatID, Text: text, ReplyTo: msg.ID}}
}

func language(u *User) string {
	if u == nil {
		return ""
	}
	return u.Language
}
