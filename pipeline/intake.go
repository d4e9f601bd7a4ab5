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
	"time"

	"github.com/google/uuid"
)

// Response is what the transport does after an update: send Reply (in the
// webhook's answer when it can, saving a round trip), and follow the
// prediction Started when there is no webhook (photobot run).
type Response struct {
	Reply   *Reply
	Started string
}

// HandleUpdate is what happens when a Telegram update arrives: a message
// (a photo, a command) or a press of one of the bot's buttons. It returns
// an error only for transient failures of a photo, which the transport
// answers so that Telegram delivers the update again; every permanent
// failure becomes a message instead.
func (b *Bot) HandleUpdate(ctx context.Context, u *Update) (*Response, error) {
	switch {
	case u.Press != nil:
		return b.press(ctx, u.ID, u.Press)
	case u.Message != nil:
		return b.message(ctx, u.ID, u.Message)
	}
	return nil, nil // edits, channel posts, ...: nothing to do
}

// message is a user's message: a photo starts its effect (the only one, the
// default one, or the one its caption names) or gets the menu; a command
// gets its answer; anything else in a private chat gets the help.
func (b *Bot) message(ctx context.Context, update int64, msg *Message) (*Response, error) {
	w := b.wordsFor(language(msg.From))
	command, _ := commandOf(msg.Text)
	if b.opt.Allowed != nil && !b.opt.Allowed.Has(msg.From) {
		if msg.File != nil || msg.Private || command != "" {
			return reply(msg, fmt.Sprintf(w.NotAllowed, userID(msg.From))), nil // costs nothing: no download, no prediction
		}
		return nil, nil
	}
	if msg.File == nil {
		switch {
		case command == "effects" && !b.single():
			return reply(msg, w.effects), nil
		case b.effect[command] != nil && !b.single():
			return reply(msg, fmt.Sprintf(w.CommandNoPhoto, "/"+command)), nil
		case msg.Private || command != "":
			return &Response{Reply: &Reply{ChatID: msg.ChatID, Text: w.help}}, nil
		}
		return nil, nil // chatter in a group: stay quiet
	}
	switch {
	case !msg.File.Image:
		return reply(msg, w.NotAnImage), nil
	case msg.File.TooBig:
		return reply(msg, w.TooBig), nil
	}
	e := b.chosen(msg.Caption)
	if e == nil {
		// Nothing is downloaded or billed before a choice.
		return &Response{Reply: &Reply{ChatID: msg.ChatID, Text: w.Choose, ReplyTo: msg.ID, Buttons: w.menu}}, nil
	}
	j := b.newJob(update, msg, msg.From, e, w)
	j.claim = updateKey(update)
	return j.start(ctx)
}

// chosen is the effect a photo starts by itself: the only one, the one its
// caption names as a command (/upscale), or DEFAULT_EFFECT; nil for the
// menu.
func (b *Bot) chosen(caption string) *Effect {
	if b.single() {
		return &b.opt.Effects[0]
	}
	if c, _ := commandOf(caption); b.effect[c] != nil {
		return b.effect[c]
	}
	return b.effect[b.opt.DefaultEffect]
}

// Button data: "e:<effect>" (a menu's effect), "a:<effect>" (Again, under a
// result), "m" (the menu again), "x:<e|a>_<effect>" (Cancel: the
// prediction that button of that message started, found by its claim).
func (b *Bot) effectButtons(w *words, e *Effect) [][]Button {
	if b.single() {
		return nil
	}
	return [][]Button{{{Text: w.ButtonAgain, Data: "a:" + e.ID}, {Text: w.ButtonOther, Data: "m"}}}
}

// status is what the pressed message shows while the prediction runs:
// the effect and a Cancel button (a result, which is no text, only
// changes its buttons to the Cancel).
func (j *job) status() *Reply {
	p := j.press
	cancel := "x:" + j.choice
	if !p.OnText {
		return &Reply{ChatID: p.ChatID, Edit: p.MessageID, ButtonsOnly: true,
			Buttons: [][]Button{{{Text: "⏳ " + j.w.ButtonCancel, Data: cancel}}}}
	}
	return &Reply{ChatID: p.ChatID, Edit: p.MessageID, Text: fmt.Sprintf(j.w.Processing, j.effect.Title.In(j.w.lang)),
		Buttons: [][]Button{{{Text: j.w.ButtonCancel, Data: cancel}}}}
}

// press is a press of one of the bot's buttons. It is always answered
// (answerCallbackQuery), and never retried by Telegram: a failure is told
// to the presser, who can press again.
func (b *Bot) press(ctx context.Context, update int64, p *Press) (*Response, error) {
	w := b.wordsFor(p.From.Language)
	log := b.log.With("update_id", update, "chat_id", p.ChatID, "user_id", p.From.ID, "button", p.Data)
	answer := func(text string, alert bool) {
		cctx, cancel := b.call(ctx)
		defer cancel()
		if err := b.chat.Answer(cctx, p.ID, text, alert); err != nil {
			log.Info("press not answered", "err", err) // too old, or already answered
		}
	}
	if b.opt.Allowed != nil && !b.opt.Allowed.Has(&p.From) {
		answer(fmt.Sprintf(w.NotAllowed, p.From.ID), true)
		return nil, nil
	}
	kind, arg, _ := strings.Cut(p.Data, ":")
	if kind == "x" {
		return b.cancel(ctx, p, arg, w, answer, log)
	}
	if p.Photo == nil || p.Photo.File == nil || !p.Photo.File.Image || p.MessageID == 0 {
		answer(w.PhotoGone, true)
		return nil, nil
	}
	if kind == "m" {
		answer("", false)
		return &Response{Reply: &Reply{ChatID: p.ChatID, Text: w.Choose, ReplyTo: p.Photo.ID, Buttons: w.menu}}, nil
	}
	e := b.effect[arg]
	if (kind != "e" && kind != "a") || e == nil {
		answer(w.EffectGone, true)
		if b.single() {
			return nil, nil
		}
		return &Response{Reply: &Reply{ChatID: p.ChatID, Text: w.Choose, ReplyTo: p.Photo.ID, Buttons: w.menu}}, nil
	}
	j := b.newJob(update, p.Photo, &p.From, e, w)
	j.press, j.answer, j.choice = p, answer, kind+"_"+e.ID
	// One prediction per button of a message, whoever presses it and how
	// often: a double tap, two devices, a redelivery.
	j.claim = choiceKey(p.ChatID, p.MessageID, j.choice)
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
	w      *words
	log    *slog.Logger

	claim   string // the key of the lease that makes it happen once
	lease   *lease
	limited bool // the user's limits apply

	// press is the button that started it, nil for a photo; the pressed
	// message becomes the prediction's status.
	press    *Press
	choice   string // the pressed button's kind and effect: "e_upscale"
	answer   func(text string, alert bool)
	answered bool
}

func (b *Bot) newJob(update int64, photo *Message, user *User, e *Effect, w *words) *job {
	return &job{b: b, update: update, photo: photo, user: user, effect: e, w: w,
		limited: b.limited(user),
		log:     b.log.With("update_id", update, "chat_id", photo.ChatID, "user_id", userID(user), "effect", e.ID)}
}

// start is the photo's way to the model: [claim (once only) → reserve the
// user's quota (→ answer the press)] ∥ [getFile → download → store →
// presign]; then create the prediction; then save the task ∥ mark the
// claim done ∥ claim the album's acknowledgement; then "accepted" (or the
// pressed message turned into the prediction's status, with Cancel), in
// the webhook's answer. Five round trips in a row, whatever the
// bookkeeping.
func (j *job) start(ctx context.Context) (*Response, error) {
	b := j.b
	claimed := make(chan error, 1)
	go func() { claimed <- j.claimAndReserve(ctx) }()
	url, image, fetchErr := j.fetch(ctx)
	err := <-claimed
	switch {
	case errors.Is(err, errDone), errors.Is(err, ErrInProgress) && j.press != nil:
		j.log.Info("duplicate ignored")
		j.dropImage(ctx, image)
		return nil, nil
	case err != nil:
		j.dropImage(ctx, image)
		return j.failed(ctx, err)
	case fetchErr != nil:
		j.refund(ctx)
		return j.failed(ctx, fetchErr)
	}

	req := j.effect.request(url, prompt(j.photo.Caption))
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
	if j.press != nil {
		task.Status, task.StatusButtons = j.press.MessageID, !j.press.OnText
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
	case j.press != nil: // the pressed message shows it already
	case !tell: // another photo of this album already said it
	case j.photo.Album != "":
		r.Reply = reply(j.photo, j.w.AcceptedAlbum).Reply
	case !b.single():
		r.Reply = reply(j.photo, fmt.Sprintf(j.w.AcceptedAs, j.effect.Title.In(j.w.lang))).Reply
	default:
		r.Reply = reply(j.photo, j.w.Accepted).Reply
	}
	return r, nil
}

// claimAndReserve takes the job's lease and, when limits apply, counts the
// prediction against the user's quota. A refusal keeps the lease: it
// becomes a message, and the update is done. A press is answered as soon
// as it is known whether it starts anything, and the pressed message then
// becomes the status, before the prediction exists: so the status can
// never come after the result (a fast model's webhook can overtake a
// webhook's answer).
func (j *job) claimAndReserve(ctx context.Context) (err error) {
	if j.press != nil {
		defer func() {
			j.answered = true
			switch {
			case err == nil:
				answered := make(chan struct{})
				go func() {
					defer close(answered)
					j.answer(fmt.Sprintf(j.w.Starting, j.effect.Title.In(j.w.lang)), false)
				}()
				cctx, cancel := j.b.call(ctx)
				if err := j.b.chat.Send(cctx, j.status()); err != nil {
					j.log.Info("the status was not shown", "err", err)
				}
				cancel()
				<-answered
			case errors.Is(err, errDone), errors.Is(err, ErrInProgress):
				j.answer(j.w.AlreadyStarted, false)
			case errors.Is(err, errTooManyActive), errors.Is(err, errDailyLimit):
				text, _ := j.meaning(err)
				j.answer(text, true)
			default:
				j.answered = false // told by failed
			}
		}()
	}
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
	if j.photo.Album == "" || j.press != nil {
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

// abandon gives up a prediction whose task could not be saved, so that
// the update can be redone: it marks the prediction's delivery abandoned,
// with If-None-Match like any claim, so that no webhook can deliver it
// after that, and cancels it. It reports false when the prediction is (or
// will be) delivered after all: the save worked, only its answer was lost.
// Such a write can land after the client gave up on it, and a fast model's
// webhook can find it then: so the task is looked for again whenever a
// webhook holds the delivery.
func (j *job) abandon(ctx context.Context, id string) bool {
	b := j.b
	cctx, cancel := cleanup(ctx)
	defer cancel()
	rec, _ := json.Marshal(leaseRecord{State: stateAbandoned, At: b.now().UnixMilli(), PredictionID: id})
	for attempt := 1; ; attempt++ {
		if _, _, err := b.store.Get(cctx, taskKey(id)); err == nil {
			j.log.Info("the task's save looked failed, but the task is there: it was saved")
			return false
		}
		_, err := b.store.Create(cctx, deliveryKey(id), rec)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrExists) {
			// Redone, then: two answers are better than none.
			j.log.Warn("could not mark the prediction abandoned; canceling it anyway", "err", err)
			break
		}
		// A webhook came first: it delivered the result (and deleted the
		// task), or it holds the delivery while it finds the task (the
		// look above was too early) or finds none and lets go.
		if d, ok := b.readLease(cctx, deliveryKey(id)); ok && (d.State == stateDone || d.State == stateCanceled) {
			j.log.Info("the task's save looked failed, but its result was delivered")
			return false
		}
		if attempt == 3 || !sleep(cctx, time.Duration(attempt)*100*time.Millisecond) {
			j.log.Warn("a webhook holds the delivery of a prediction whose task is not there; canceling it anyway")
			break
		}
	}
	if err := b.models.Cancel(cctx, id); err != nil {
		j.log.Error("could not cancel a prediction whose task was not saved", "err", err)
	}
	// Nothing will read it, and it may never come: not worth a delete.
	j.log.Info("if the task's save lands after all, the lifecycle rule will delete it", "task", taskKey(id))
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

// cancel is a press of Cancel: the prediction is marked canceled (so that
// no result is sent even if the model finishes), stopped at Replicate, the
// user's slot freed, and the status says so.
func (b *Bot) cancel(ctx context.Context, p *Press, choice string, w *words, answer func(string, bool), log *slog.Logger) (*Response, error) {
	claim, ok := b.readLease(ctx, choiceKey(p.ChatID, p.MessageID, choice))
	id := claim.PredictionID
	switch {
	case !ok || claim.State != stateWorking && !validPredictionID(id):
		answer(w.NothingToCancel, false)
		return nil, nil
	case !validPredictionID(id):
		answer(w.StillStarting, false) // the prediction is being made
		return nil, nil
	}
	log = log.With("prediction_id", id)
	task, err := b.loadTask(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		// Delivered or canceled already (its delivery says so), or its
		// task is still being saved.
		if _, ended := b.readLease(ctx, deliveryKey(id)); !ended && claim.At > b.now().Add(-b.leaseTTL()).UnixMilli() {
			answer(w.StillStarting, false)
		} else {
			answer(w.NothingToCancel, false)
		}
		return nil, nil
	case err != nil:
		log.Warn("cannot read the task to cancel", "err", err)
		answer(w.BusyPress, true)
		return nil, nil
	case task.UserID != p.From.ID && !b.opt.Admins.Has(&p.From):
		answer(w.NotYours, true)
		return nil, nil
	}
	rec, _ := json.Marshal(leaseRecord{State: stateCanceled, At: b.now().UnixMilli(), PredictionID: id})
	cctx, cancel := b.call(ctx)
	_, err = b.store.Create(cctx, deliveryKey(id), rec)
	cancel()
	switch {
	case errors.Is(err, ErrExists):
		answer(w.NothingToCancel, false) // its result is being sent
		return nil, nil
	case err != nil:
		log.Warn("cannot mark the prediction canceled", "err", err)
		answer(w.BusyPress, true)
		return nil, nil
	}
	answer(w.Canceling, false)
	cctx, cancel = b.call(ctx)
	if err := b.models.Cancel(cctx, id); err != nil {
		log.Warn("Replicate did not take the cancel; no result will be sent anyway", "err", err)
	}
	cancel()
	d := &delivery{b: b, o: &Outcome{ID: id, Status: Canceled}, task: task, w: b.wordsFor(task.Language), log: log}
	d.forget(ctx, true)
	log.Info("canceled by the user")
	e := d.effect()
	if task.StatusButtons {
		return &Response{Reply: &Reply{ChatID: task.ChatID, Edit: task.Status, ButtonsOnly: true, Buttons: b.effectButtons(d.w, e)}}, nil
	}
	return &Response{Reply: &Reply{ChatID: task.ChatID, Edit: p.MessageID,
		Text: fmt.Sprintf(d.w.CanceledStatus, e.Title.In(d.w.lang)), Buttons: b.effectButtons(d.w, e)}}, nil
}

// accepted double-checks a claim marked done: its prediction is delivered
// or will be. The mark is written while the task is saved, to spare a
// round trip, so a failed save can leave a mark whose prediction was
// abandoned, or (with no task and no delivery) never saved.
func (b *Bot) accepted(ctx context.Context, rec leaseRecord) bool {
	if rec.PredictionID == "" || !validPredictionID(rec.PredictionID) {
		return true // refused for good (a message was sent): nothing to redo
	}
	saved := make(chan error, 1)
	go func() {
		cctx, cancel := b.call(ctx)
		defer cancel()
		_, _, err := b.store.Get(cctx, taskKey(rec.PredictionID))
		saved <- err
	}()
	d, delivering := b.readLease(ctx, deliveryKey(rec.PredictionID))
	err := <-saved
	switch {
	case delivering && d.State == stateAbandoned:
		return false // even if its task landed late: no webhook delivers it
	case delivering:
		// Delivered, canceled by the user, or a webhook holds the task
		// (which it deletes once the result is sent).
		return true
	}
	// Saved, or the store cannot tell: do not risk a second prediction.
	return !errors.Is(err, ErrNotFound)
}

// commandOf reads "/name@bot rest" into name and rest; "" when s is no
// command.
func commandOf(s string) (name, rest string) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "/") {
		return "", ""
	}
	name, rest, _ = strings.Cut(s[1:], " ")
	name, _, _ = strings.Cut(name, "@")
	return strings.ToLower(name), strings.TrimSpace(rest)
}

// prompt is a caption as the model's prompt: without the command that
// chose the effect.
func prompt(caption string) string {
	if c, rest := commandOf(caption); c != "" {
		return rest
	}
	return caption
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

func userID(u *User) int64 {
	if u == nil {
		return 0
	}
	return u.ID
}
