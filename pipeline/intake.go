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
// prediction it started (PredictionID) when there is no webhook (photobot run).
type Response struct {
	Reply        *Reply
	PredictionID string
	// Progress: the prediction's effect reports when the model starts
	// (a poller tells HandlePrediction when it sees it processing).
	Progress bool
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
	case u.Message != nil && u.Message.Payment != nil:
		return b.payment(ctx, u.ID, u.Message) // the Stars are the user's, allowed or not
	case u.Message != nil:
		return b.message(ctx, u.ID, u.Message)
	case u.PreCheckout != nil:
		return b.preCheckout(ctx, u.PreCheckout)
	}
	return nil, nil // edits, channel posts, ...: nothing to do
}

// message is a user's message: a photo starts its effect (the only one, the
// default one, or the one its caption names) or gets the menu; a command
// gets its answer; anything else in a private chat gets the help.
func (b *Bot) message(ctx context.Context, update int64, msg *Message) (*Response, error) {
	w := b.wordsFor(language(msg.From))
	command, _ := commandOf(msg.Text)
	if command == "stats" && b.statsFor(msg) {
		return b.stats(ctx, msg, w)
	}
	if b.opt.Allowed != nil && !b.opt.Allowed.Has(msg.From) {
		if msg.File != nil {
			b.count(ctx, &Event{User: userID(msg.From), Outcome: RefusedAccess})
		}
		if msg.File != nil || msg.Private || command != "" {
			return reply(msg, fmt.Sprintf(w.NotAllowed, userID(msg.From))), nil // costs nothing: no download, no prediction
		}
		return nil, nil
	}
	if r, ok, err := b.replied(ctx, update, msg, w); ok {
		return r, err // a prompt (prompts.go)
	}
	if msg.File == nil {
		switch {
		case b.pay != nil && payCommands[command]:
			return b.payCommand(ctx, msg, command), nil
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
	if j.needsPrompt() {
		return j.askForPhoto(ctx, "")
	}
	j.claimKey = updateKey(update)
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

// effectButtons go under a result, or a failure: Again and Other effects
// (buttons.go spells their data).
func (b *Bot) effectButtons(w *words, e *Effect) [][]Button {
	if b.single() {
		return nil
	}
	return [][]Button{{{Text: w.ButtonAgain, Data: button{act: actAgain, effect: e.ID}.String()},
		{Text: w.ButtonOther, Data: button{act: actMenu}.String()}}}
}

// status is what the pressed message shows while the prediction runs:
// the effect and a Cancel button (a result, which is no text, only
// changes its buttons to the Cancel).
func (j *job) status() *Reply {
	p := j.press
	cancel := button{act: actCancel, of: j.started.act, effect: j.started.effect}.String()
	if !p.OnText {
		return &Reply{ChatID: p.ChatID, Edit: p.MessageID, ButtonsOnly: true,
			Buttons: [][]Button{{{Text: "⏳ " + j.w.ButtonCancel, Data: cancel}}}}
	}
	return &Reply{ChatID: p.ChatID, Edit: p.MessageID, Text: j.statusText(),
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
	d, ok := parseButton(p.Data)
	if ok && d.act == actCancel {
		return b.cancel(ctx, &pressed{Press: p, w: w, answer: answer, log: log}, d)
	}
	if ok && d.act == actBuy {
		return b.buy(ctx, &pressed{Press: p, w: w, answer: answer, log: log}, d.stars)
	}
	if p.Photo == nil || p.Photo.File == nil || !p.Photo.File.Image || p.MessageID == 0 {
		answer(w.PhotoGone, true)
		return nil, nil
	}
	if ok && d.act == actMenu {
		answer("", false)
		return &Response{Reply: &Reply{ChatID: p.ChatID, Text: w.Choose, ReplyTo: p.Photo.ID, Buttons: w.menu}}, nil
	}
	e := b.effect[d.effect]
	if !ok || e == nil {
		answer(w.EffectGone, true)
		if b.single() {
			return nil, nil
		}
		return &Response{Reply: &Reply{ChatID: p.ChatID, Text: w.Choose, ReplyTo: p.Photo.ID, Buttons: w.menu}}, nil
	}
	j := b.newJob(update, p.Photo, &p.From, e, w)
	j.press, j.answer, j.started = p, answer, d
	if r, asked := j.promptFirst(ctx, d); asked {
		return r, nil
	}
	// One prediction per button of a message, whoever presses it and how
	// often: a double tap, two devices, a redelivery.
	j.claimKey = choiceKey(p.ChatID, p.MessageID, d.choice())
	return j.start(ctx)
}

// job is one photo on its way to a model: what every step of the intake
// needs to know. A way to start a job (a photo, a press) builds one and
// calls start; the steps do the rest.
type job struct {
	b      *Bot
	update int64    // the update that asked for it (the user's reservation)
	photo  *Message // the user's photo
	user   *User    // who asked: the sender, or who pressed the button
	effect *Effect
	prompt string // what the model is told besides the photo; "" for none
	// reply is the user's reply to a question, whose text is the prompt
	// (prompts.go); nil for none. keep: the prompt is kept for Again.
	reply *Message
	keep  bool
	// posted is the status posted for a job a reply started.
	posted int
	w      *words
	log    *slog.Logger

	claimKey string // where its lease is: the claim that makes it happen once
	limited  bool   // the user's limits apply

	// press is the button that started it, nil for a photo; the pressed
	// message becomes the prediction's status, with a Cancel of started.
	press    *Press
	started  button
	answer   func(text string, alert bool)
	answered bool

	// What the steps did, for the rollback: set by each step as it
	// succeeds.
	lease    *lease // acquire: the claim is ours
	reserved bool   // acquire: the user's quota counts it
	count    int    // acquire: the user's predictions today, this one included
	price    int    // acquire: what it costs in Stars (0: free)
	held     bool   // acquire: the price is held from the balance
	balance  int    // acquire: the balance after the hold, or too low for it
	note     string // acquire: what the user is told of the price
	returned string // rollback: the user is told the price came back
	image    string // prepare: the stored photo's key
	url      string // prepare: where the model reads it
}

func (b *Bot) newJob(update int64, photo *Message, user *User, e *Effect, w *words) *job {
	return &job{b: b, update: update, photo: photo, user: user, effect: e, w: w,
		prompt:  prompt(photo.Caption),
		limited: b.counted(user, e),
		log:     b.log.With("update_id", update, "chat_id", photo.ChatID, "user_id", userID(user), "effect", e.ID)}
}

// start takes a job through the intake's steps, in the order they run:
// acquire (claim it once, reserve the user's quota, acknowledge a press) ∥
// prepare (download the photo, store it, presign); create the prediction;
// record (save the task ∥ mark the claim done); announce. Five round trips
// in a row, whatever the bookkeeping. A failed step ends in rollback, the
// one place that undoes what the steps before it did and tells the user.
func (j *job) start(ctx context.Context) (*Response, error) {
	if err := j.acquireAndPrepare(ctx); err != nil {
		return j.rollback(ctx, err)
	}
	id, err := j.create(ctx)
	if err != nil {
		return j.rollback(ctx, err)
	}
	tell, err := j.record(ctx, id)
	if err != nil {
		return j.rollback(ctx, err)
	}
	return j.announce(id, tell), nil
}

// acquireAndPrepare runs the claim and the download side by side: the
// download is wasted only for a duplicate or a refusal. A failure to
// acquire wins over a failed download.
func (j *job) acquireAndPrepare(ctx context.Context) error {
	if j.b.priceOf(j.user, j.effect) > 0 {
		// A photo that may cost Stars is downloaded once they are held:
		// a user who cannot pay costs nothing.
		err := j.acquire(ctx)
		j.acknowledge(ctx, err)
		if err != nil {
			return err
		}
		return j.prepare(ctx)
	}
	acquired := make(chan error, 1)
	go func() {
		err := j.acquire(ctx)
		j.acknowledge(ctx, err)
		acquired <- err
	}()
	prepareErr := j.prepare(ctx)
	if err := <-acquired; err != nil {
		return err
	}
	return prepareErr
}

// acquire takes the job's lease and, when limits apply, counts the
// prediction against the user's quota; then charges its price. A refusal
// keeps the lease: it becomes a message, and the update is done.
func (j *job) acquire(ctx context.Context) error {
	l, err := j.b.acquire(ctx, j.claimKey, j.b.accepted)
	if err != nil {
		return err
	}
	j.lease = l
	if j.limited {
		cctx, cancel := j.b.call(ctx)
		j.count, err = j.b.reserve(cctx, j.user.ID, j.update)
		cancel()
		if err != nil {
			return err
		}
		j.reserved = true
	}
	return j.charge(ctx)
}

// acknowledge answers a press as soon as it is known whether it starts
// anything; when it does, the pressed message becomes the status before
// the prediction exists, so the status can never come after the result (a
// fast model's webhook can overtake a webhook's answer). A failure that
// is not a duplicate or a limit is told later, by failed.
func (j *job) acknowledge(ctx context.Context, err error) {
	if j.press == nil {
		if err == nil && (j.reply != nil || j.effect.Progress) {
			j.postStatus(ctx) // progress.go
		}
		return
	}
	j.answered = true
	switch {
	case err == nil:
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			j.answer(withNote(fmt.Sprintf(j.w.Starting, j.effect.Title.In(j.w.lang)), " · ", j.note), false)
		}()
		cctx, cancel := j.b.call(ctx)
		if err := j.b.chat.Send(cctx, j.status()); err != nil {
			j.log.Info("the status was not shown", "err", err)
		}
		cancel()
		<-answered
	case errors.Is(err, errDone), errors.Is(err, ErrInProgress):
		j.answer(j.w.AlreadyStarted, false)
	case errors.Is(err, errShort):
		j.answer(j.w.NeedStars, false)
	case errors.Is(err, errTooManyActive), errors.Is(err, errDailyLimit):
		text, _ := j.meaning(err)
		j.answer(text, true)
	default:
		j.answered = false
	}
}

// create starts the prediction.
func (j *job) create(ctx context.Context) (string, error) {
	b := j.b
	req := j.effect.request(j.url, j.prompt)
	req.Webhook, req.Deadline, req.Progress = b.opt.WebhookURL, b.opt.PredictionDeadline, j.effect.Progress
	cctx, cancel := b.createCall(ctx)
	defer cancel()
	id, err := b.models.Create(cctx, req)
	if err != nil {
		return "", err
	}
	j.log = j.log.With("prediction_id", id)
	return id, nil
}

// createCall gives the create call more than any other call: the rest of
// the request, less what saving the task needs. An answer given up on
// leaves a prediction that runs unseen and is paid for, and the redo of
// the update pays again.
func (b *Bot) createCall(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return b.call(ctx)
	}
	deadline = deadline.Add(-b.opt.SaveBudget - leaseMargin)
	if time.Until(deadline) < b.opt.CallTimeout {
		return b.call(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// record saves the task, marks the claim done and, for an album, finds
// out whether the user was already told: all at once. Without its task the
// result could never be delivered: the prediction is then abandoned
// (canceled, so it is not billed) and the update redone; unless the save
// landed after all.
func (j *job) record(ctx context.Context, id string) (tell bool, err error) {
	finished := make(chan error, 1)
	go func() { finished <- j.b.finish(ctx, j.claimKey, stateDone, id) }()
	firstOfAlbum := make(chan bool, 1)
	go func() { firstOfAlbum <- j.firstOfAlbum(ctx) }()
	keptPrompt := make(chan struct{})
	go func() { defer close(keptPrompt); j.keepPrompt(ctx, id) }()
	defer func() { <-keptPrompt }()
	saveErr := j.b.saveTask(ctx, id, j.task())
	finishErr := <-finished
	tell = <-firstOfAlbum
	if saveErr != nil && j.abandon(ctx, id) {
		return false, saveErr
	}
	if finishErr != nil {
		j.log.Warn("claim not marked done; a redelivery would be taken for new", "err", finishErr)
	}
	return tell, nil
}

// task is the state the result's delivery needs.
func (j *job) task() *Task {
	t := &Task{ChatID: j.photo.ChatID, FileID: j.photo.File.ID, Timestamp: j.b.now().Unix(),
		MessageID: j.photo.ID, UpdateID: j.update, Image: j.image, Effect: j.effect.ID}
	if j.user != nil {
		t.UserID, t.Language = j.user.ID, j.user.Language
	}
	if j.press != nil {
		t.StatusMessage, t.StatusButtons = j.press.MessageID, !j.press.OnText
	}
	j.progressTask(t)
	j.promptTask(t)
	if j.held {
		t.Hold, t.Stars = j.claimKey, j.price
	}
	t.Counted = j.reserved
	return t
}

// announce is the answer to a started job: "accepted", once per album; a
// press's status already says it.
func (j *job) announce(id string, tell bool) *Response {
	j.log.Info("photo accepted", "image", j.image)
	r := &Response{PredictionID: id, Progress: j.effect.Progress}
	switch {
	case j.press != nil, j.posted != 0:
	case !tell:
	case j.photo.Album != "":
		r.Reply = reply(j.photo, j.w.AcceptedAlbum).Reply
	case !j.b.single():
		r.Reply = reply(j.photo, fmt.Sprintf(j.w.AcceptedAs, j.effect.Title.In(j.w.lang))).Reply
	default:
		r.Reply = reply(j.photo, j.w.Accepted).Reply
	}
	if r.Reply != nil {
		r.Reply.Text = withNote(r.Reply.Text, "\n", j.note)
	}
	return r
}

// rollback undoes what the steps did before one failed (the stored photo,
// the quota, the price held), then tells the user why (failed); a
// duplicate is told nothing, a balance too low gets an invoice.
func (j *job) rollback(ctx context.Context, err error) (*Response, error) {
	j.dropImage(ctx)
	j.refund(ctx)
	j.giveBack(ctx)
	switch {
	case errors.Is(err, errDone) || errors.Is(err, ErrInProgress) && j.press != nil:
		j.log.Info("duplicate ignored")
		return nil, nil
	case errors.Is(err, errShort):
		return j.invoice(ctx)
	}
	return j.failed(ctx, err)
}

var extensions = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// errNotAnImage: the file's bytes are not an image the models read.
var errNotAnImage = errors.New("file is not an image")

// prepare streams the photo from Telegram into the image store: the model
// reads it from j.url.
func (j *job) prepare(ctx context.Context) error {
	url, key, err := j.fetch(ctx)
	j.url, j.image = url, key
	return err
}

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
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
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
		// A webhook came first. It marks the delivery done before it
		// deletes the task, so with no task and no mark it found none
		// (the look above was too early, or it was) and lets go soon:
		// wait for that, or for the mark.
		if d, ok := b.readLease(cctx, deliveryKey(id)); ok && (d.State == stateDone || d.State == stateCanceled) {
			j.log.Info("the task's save looked failed, but its result was delivered")
			return false
		}
		if !sleep(cctx, wait) {
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
	if !j.reserved {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := j.b.unreserve(cctx, j.user.ID, j.update, true); err != nil {
		j.log.Warn("could not refund the user's quota; it frees itself after the deadline", "err", err)
	}
}

// dropImage deletes a stored photo that no prediction will read.
func (j *job) dropImage(ctx context.Context) {
	key := j.image
	if key == "" {
		return
	}
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := j.b.store.Delete(cctx, key); err != nil {
		j.log.Warn("could not delete an unused photo; the lifecycle rule will", "image", key, "err", err)
	}
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

// withNote adds note to text after sep; text alone when there is none.
func withNote(text, sep, note string) string {
	if note == "" {
		return text
	}
	return text + sep + note
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
