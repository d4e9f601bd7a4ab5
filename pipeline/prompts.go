package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/photobot/photobot/internal/tgtext"
)

// Asking for a prompt. An effect whose prompt is required, started
// without one (a press, a photo without a caption, DEFAULT_EFFECT), asks
// for it: a question replying to the photo, with a ForceReply, so that the
// user's client opens a reply. The reply is the prompt.
//
// Telegram gives the reply's reply_to_message (the question) one level
// deep: the question's own reply_to_message, the photo, is not there. So
// what finds the photo again (its message and file ids, the effect) is
// kept in the bucket under the question's message id (questionKey), which
// Post returns: a small object the bot alone writes, where an entity in
// the question's text would put the photo's file id in the chat and need a
// signature against a forged question. The cost is one call more than a
// question sent in the webhook's answer, and one write.
//
// A question carries no Cancel button (a message has one reply markup,
// and the ForceReply takes it): nothing is billed before the reply, so
// ignoring the question is enough; a reply "/cancel" forgets it.

// maxPrompt is the longest prompt taken, in characters.
const maxPrompt = 1000

// question is what the bot keeps of a question it asked.
type question struct {
	Photo  int    `json:"photo"` // the photo's message id
	File   string `json:"file"`  // the photo's file id
	Effect string `json:"effect"`
	At     int64  `json:"at"` // when asked, unix seconds
}

// needsPrompt: the job's effect asks for a prompt, and it has none.
func (j *job) needsPrompt() bool {
	return j.effect.PromptRequired && strings.TrimSpace(j.prompt) == ""
}

// ask sends the question for the job's effect, replying to its photo
// (note, when set, says what was wrong with the last answer), and keeps
// what finds the photo again under the question's id.
func (j *job) ask(ctx context.Context, note string) error {
	b, w, e := j.b, j.w, j.effect
	hint := e.PromptHint.In(w.lang)
	if hint == "" {
		hint = w.AskHint
	}
	text := fmt.Sprintf(w.Ask, e.Title.In(w.lang), hint)
	if note != "" {
		text = note + "\n\n" + text
	}
	cctx, cancel := b.call(ctx)
	id, err := b.chat.Post(cctx, &Reply{ChatID: j.photo.ChatID, Text: text, ReplyTo: j.photo.ID,
		ForceReply: true, Placeholder: tgtext.Clip(hint, 64)})
	cancel()
	if err != nil {
		return fmt.Errorf("asking for a prompt: %w", err)
	}
	data, _ := json.Marshal(question{Photo: j.photo.ID, File: j.photo.File.ID, Effect: e.ID, At: b.now().Unix()})
	cctx, cancel = b.call(ctx)
	defer cancel()
	if err := b.store.Put(cctx, questionKey(j.photo.ChatID, id), bytes.NewReader(data), int64(len(data)), "application/json"); err != nil {
		return fmt.Errorf("keeping the question: %w", err)
	}
	j.log.Info("asked for a prompt", "question", id)
	return nil
}

// askForPhoto asks, for a photo that started a job by itself; a failure
// is a failure of the photo (retried by Telegram when transient).
func (j *job) askForPhoto(ctx context.Context, note string) (*Response, error) {
	if err := j.ask(ctx, note); err != nil {
		return j.failed(ctx, err)
	}
	return nil, nil
}

// askForPress asks, for a press (an effect of the menu, Another prompt,
// Again whose prompt is gone); a failure is told to the presser.
func (j *job) askForPress(ctx context.Context) (*Response, error) {
	if err := j.ask(ctx, ""); err != nil {
		text, _ := j.meaning(err)
		j.log.Warn("could not ask for a prompt", "err", err)
		j.answer(text, true)
		return nil, nil
	}
	j.answer("", false)
	return nil, nil
}

// replied handles a message that replies to one of the bot's messages:
// when that message is a question, the reply is its prompt. ok is false
// for any other reply, which is then an ordinary message.
func (b *Bot) replied(ctx context.Context, update int64, msg *Message, w *words) (r *Response, ok bool, err error) {
	to := msg.ReplyTo
	if to == nil || to.From == nil || !to.From.Bot || msg.File != nil && msg.File.Image {
		return nil, false, nil // a photo replying to anything is a photo
	}
	q, err := b.loadQuestion(ctx, msg.ChatID, to.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil
	case err != nil:
		b.log.Warn("cannot read the question a reply answers; Telegram will retry", "update_id", update, "err", err)
		return nil, true, err
	}
	e := b.effect[q.Effect]
	if e == nil {
		return reply(msg, w.EffectGone), true, nil
	}
	photo := &Message{ID: q.Photo, ChatID: msg.ChatID, Private: msg.Private, From: msg.From, Date: msg.Date,
		File: &File{ID: q.File, Image: true}}
	j := b.newJob(update, photo, msg.From, e, w)
	j.prompt, j.reply, j.keep = strings.TrimSpace(msg.Text), msg, true
	if c, _ := commandOf(msg.Text); c == "cancel" {
		b.forgetQuestion(ctx, msg.ChatID, to.ID)
		return reply(msg, w.AskCanceled), true, nil
	}
	if note := j.promptProblem(msg); note != "" {
		r, err := j.askForPhoto(ctx, note)
		return r, true, err
	}
	// One prediction per reply, however often Telegram delivers it (an
	// edit of the reply comes as an edited_message, which the bot does
	// not take).
	j.claimKey = choiceKey(msg.ChatID, msg.ID, button{act: actReply, effect: e.ID}.choice())
	r, err = j.start(ctx)
	return r, true, err
}

// promptProblem is what is wrong with a reply as a prompt: "" when
// nothing.
func (j *job) promptProblem(msg *Message) string {
	switch {
	case msg.File != nil || j.prompt == "":
		return j.w.AskAgainEmpty
	case utf8.RuneCountInString(j.prompt) > maxPrompt:
		return fmt.Sprintf(j.w.AskTooLong, maxPrompt)
	}
	return ""
}

func (b *Bot) loadQuestion(ctx context.Context, chatID int64, id int) (*question, error) {
	cctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.store.Get(cctx, questionKey(chatID, id))
	if err != nil {
		return nil, err
	}
	var q question
	if err := json.Unmarshal(data, &q); err != nil || q.File == "" || q.Photo <= 0 {
		return nil, fmt.Errorf("question %d is corrupt: %w", id, ErrNotFound)
	}
	return &q, nil
}

func (b *Bot) forgetQuestion(ctx context.Context, chatID int64, id int) {
	cctx, cancel := b.call(ctx)
	defer cancel()
	if err := b.store.Delete(cctx, questionKey(chatID, id)); err != nil {
		b.log.Warn("could not forget a question; the lifecycle rule will", "err", err)
	}
}

// Again with a prompt: a button's data (64 bytes) cannot carry the
// prompt, so a prompt that came from a reply is kept under the
// prediction's id (promptKey), written beside the task; Again names the
// prediction. A prompt from a caption needs none: the caption is still
// there.

// kept is the object at promptKey.
type kept struct {
	Prompt string `json:"prompt"`
}

// keepPrompt keeps a replied prompt for Again; a failure only means that
// Again asks for the prompt anew.
func (j *job) keepPrompt(ctx context.Context, id string) {
	if !j.keep || j.prompt == "" {
		return
	}
	data, _ := json.Marshal(kept{Prompt: j.prompt})
	cctx, cancel := j.b.call(ctx)
	defer cancel()
	if err := j.b.store.Put(cctx, promptKey(id), bytes.NewReader(data), int64(len(data)), "application/json"); err != nil {
		j.log.Warn("could not keep the prompt for Again; Again will ask for it", "err", err)
	}
}

// keptPrompt is the prompt kept under prediction id; "" when there is
// none (expired, never kept).
func (b *Bot) keptPrompt(ctx context.Context, id string) string {
	cctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.store.Get(cctx, promptKey(id))
	var k kept
	if err != nil || json.Unmarshal(data, &k) != nil {
		return ""
	}
	return k.Prompt
}

// promptTask records the prompt in the task: for the caption, and for
// Again.
func (j *job) promptTask(t *Task) {
	if j.effect.PromptField == "" {
		return
	}
	t.Prompt = strings.TrimSpace(j.prompt)
	t.PromptKept = j.keep && t.Prompt != ""
}

// promptFirst finds the prompt of a press, or asks for one: Another
// prompt always asks; Again repeats its kept prompt; an effect that needs
// a prompt and has none (not even the photo's caption) asks. asked is
// true when the press is answered by a question.
func (j *job) promptFirst(ctx context.Context, d button) (r *Response, asked bool) {
	if d.act == actAgain && d.ref != "" {
		if p := j.b.keptPrompt(ctx, d.ref); p != "" {
			j.prompt, j.keep = p, true
		}
	}
	if d.act != actPrompt && !j.needsPrompt() {
		return nil, false
	}
	r, _ = j.askForPress(ctx)
	return r, true
}

// resultButtons go under a result, or a failure: for an effect that takes
// a prompt, Again (with the kept prompt's prediction as ref), Another
// prompt and Other effects; else effectButtons.
func (b *Bot) resultButtons(w *words, e *Effect, ref string) [][]Button {
	if e.PromptField == "" || !e.PromptRequired && ref == "" {
		return b.effectButtons(w, e)
	}
	again := button{act: actAgain, effect: e.ID, ref: ref}
	if len(again.String()) > 64 {
		again.ref = "" // an id too long for a button: Again asks
	}
	rows := [][]Button{{{Text: w.ButtonAgain, Data: again.String()},
		{Text: w.ButtonPrompt, Data: button{act: actPrompt, effect: e.ID}.String()}}}
	if !b.single() {
		rows = append(rows, []Button{{Text: w.ButtonOther, Data: button{act: actMenu}.String()}})
	}
	return rows
}

// buttons are the delivery's result buttons.
func (d *delivery) buttons() [][]Button {
	ref := ""
	if d.task.PromptKept {
		ref = d.o.ID
	}
	return d.b.resultButtons(d.w, d.effect(), ref)
}

// caption is the result's caption: the effect, how long, and the prompt,
// cut to fit Telegram's 1,024.
func (d *delivery) caption(title string) string {
	c := d.w.caption(title, d.o.Took)
	if d.task.Prompt == "" {
		return c
	}
	head := c + "\n"
	line := fmt.Sprintf(d.w.PromptLine, d.task.Prompt)
	return head + tgtext.Clip(line, 1024-tgtext.Len(head))
}
