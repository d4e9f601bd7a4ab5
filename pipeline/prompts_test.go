package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
)

// kontext is an effect that needs a prompt and reports its progress.
var kontext = pipeline.Effect{ID: "kontext", Title: pipeline.Text{"en": "Restyle", "ru": "Стиль"},
	Model: "black-forest-labs/flux-kontext-pro", ImageField: "input_image", PromptField: "prompt",
	Input: map[string]any{"output_format": "png"}, PromptRequired: true, Progress: true,
	PromptHint: pipeline.Text{"en": "Describe the style: watercolor, anime, oil painting…"}}

const botID = 777

// asked returns the question the bot posted last (failing when the last
// message sent is none) and its id.
func (c *core) asked() (pipeline.Reply, int) {
	c.t.Helper()
	sent, posted := c.chat.Sent, c.chat.Posted // every handling is over
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].ForceReply {
			return sent[i], posted[i]
		}
	}
	c.t.Fatalf("no question was asked; sent %+v", sent)
	return pipeline.Reply{}, 0
}

// answer is the user's reply to the bot's message question.
func (c *core) answer(user int64, question int, text string) *pipeline.Update {
	n := c.seq.Add(1)
	return &pipeline.Update{ID: 2000 + n, Message: &pipeline.Message{ID: 500 + int(n), ChatID: user, Private: true,
		From: &pipeline.User{ID: user, Language: "en"}, Date: c.clock.Now(), Text: text,
		ReplyTo: &pipeline.Message{ID: question, ChatID: user, From: &pipeline.User{ID: botID, Bot: true}, Text: "✏️ Restyle: …"}}}
}

func TestRequiredPromptIsAskedAndTheReplyStartsItOnce(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{kontext} })
	photo := c.photo(7, "en")
	if r, err := c.handle(photo); err != nil || r != nil {
		t.Fatalf("photo without a caption: %+v, %v; want the question only", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 0 {
		t.Fatalf("%d predictions before the prompt", len(created))
	}
	q, qid := c.asked()
	if q.ReplyTo != photo.Message.ID || q.Placeholder != "Describe the style: watercolor, anime, oil painting…" ||
		!strings.Contains(q.Text, "Describe the style") || len(q.Buttons) != 0 {
		t.Errorf("question %+v", q)
	}

	reply := c.answer(7, qid, "  make it a watercolor ")
	r, err := c.handle(reply)
	if err != nil || r == nil || r.PredictionID == "" || r.Reply != nil || !r.Progress {
		t.Fatalf("reply: %+v, %v; want a prediction, told by its status", r, err)
	}
	created, _ := c.models.Record()
	if len(created) != 1 || created[0].Input["prompt"] != "make it a watercolor" || created[0].Input["output_format"] != "png" ||
		!strings.HasPrefix(fmt.Sprint(created[0].Input["input_image"]), "https://bucket.example/images/input/") || !created[0].Progress {
		t.Fatalf("predictions %+v", created)
	}
	sent, _, _ := c.chat.Record()
	status := sent[len(sent)-1]
	if !strings.Contains(status.Text, "waiting for the model") || status.ReplyTo != photo.Message.ID ||
		!slices.Equal(data(status.Buttons), []string{fmt.Sprintf("x:r_kontext_%d", reply.Message.ID)}) {
		t.Errorf("status %+v", status)
	}
	task := c.task(r.PredictionID)
	if task == nil || task.Prompt != "make it a watercolor" || !task.PromptKept || task.StatusMessage != c.chat.Posted[len(sent)-1] ||
		task.MessageID != photo.Message.ID || task.FileID != photo.Message.File.ID {
		t.Errorf("task %+v", task)
	}

	// Redelivered: nothing more.
	if r, err := c.handle(reply); err != nil || r != nil {
		t.Errorf("redelivered reply: %+v, %v", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions after a redelivery", len(created))
	}

	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/out.png"},
		Took: 4200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	_, results, _ := c.chat.Record()
	if len(results) != 1 || results[0].Caption != "Restyle · 4.2 s\n✏️ make it a watercolor" ||
		!slices.Equal(data(results[0].Buttons), []string{"a:kontext:" + r.PredictionID, "p:kontext"}) {
		t.Errorf("result %+v", results)
	}
}

func TestAgainRepeatsTheKeptPromptAndAnotherPromptAsks(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{kontext, upscale} })
	photo := c.photo(7, "en")
	photo.Message.Caption = "/kontext"
	if _, err := c.handle(photo); err != nil {
		t.Fatal(err)
	}
	_, qid := c.asked()
	r, err := c.handle(c.answer(7, qid, "anime"))
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("reply: %+v, %v", r, err)
	}
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/out.png"}}); err != nil {
		t.Fatal(err)
	}
	_, results, _ := c.chat.Record()
	if got := data(results[0].Buttons); !slices.Equal(got, []string{"a:kontext:" + r.PredictionID, "p:kontext", "m"}) {
		t.Fatalf("result buttons %q", got)
	}
	const result = 900
	again, err := c.press(photo.Message, result, false, "a:kontext:"+r.PredictionID, 7)
	if err != nil || again == nil || again.PredictionID == "" {
		t.Fatalf("Again: %+v, %v", again, err)
	}
	created, _ := c.models.Record()
	if len(created) != 2 || created[1].Input["prompt"] != "anime" {
		t.Errorf("Again's prediction %+v", created)
	}
	if task := c.task(again.PredictionID); task == nil || task.Prompt != "anime" || !task.PromptKept {
		t.Errorf("Again's task %+v: its own Again must find the prompt too", task)
	}

	before := len(c.chat.Sent)
	if r, err := c.press(photo.Message, result, false, "p:kontext", 7); err != nil || r != nil {
		t.Fatalf("Another prompt: %+v, %v", r, err)
	}
	q, _ := c.asked()
	if len(c.chat.Sent) != before+1 || q.ReplyTo != photo.Message.ID {
		t.Errorf("Another prompt sent %+v", c.chat.Sent[before:])
	}
	if created, _ := c.models.Record(); len(created) != 2 {
		t.Errorf("Another prompt started a prediction")
	}
	// Again of a prompt that is no longer kept asks for it.
	c.store.Delete(context.Background(), "deliveries/"+r.PredictionID+".prompt.json")
	if r, err := c.press(photo.Message, result+1, false, "a:kontext:"+r.PredictionID, 7); err != nil || r != nil {
		t.Fatalf("Again without its prompt: %+v, %v", r, err)
	}
	if len(c.chat.Sent) != before+2 || !c.chat.Sent[before+1].ForceReply {
		t.Errorf("Again without its prompt did not ask: %+v", c.chat.Sent[before:])
	}
}

func TestAMenuPressOfARequiredPromptAsksUnlessTheCaptionIsOne(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{upscale, kontext} })
	photo, menu := c.menu(7)
	if r, err := c.press(photo, menu, true, "e:kontext", 7); err != nil || r != nil {
		t.Fatalf("press: %+v, %v", r, err)
	}
	if q, _ := c.asked(); q.ReplyTo != photo.ID {
		t.Errorf("question %+v", q)
	}
	_, _, answers := c.chat.Record()
	if len(answers) != 1 || answers[0].Alert {
		t.Errorf("answers %+v", answers)
	}
	captioned, menu2 := c.menu(7)
	captioned.Caption = "oil painting"
	if r, err := c.press(captioned, menu2, true, "e:kontext", 7); err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("press with a caption: %+v, %v; want a prediction", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 1 || created[0].Input["prompt"] != "oil painting" {
		t.Errorf("predictions %+v", created)
	}
}

func TestABadAnswerIsAskedAgain(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{kontext} })
	if _, err := c.handle(c.photo(7, "en")); err != nil {
		t.Fatal(err)
	}
	_, qid := c.asked()
	sticker := c.answer(7, qid, "")
	sticker.Message.File = &pipeline.File{} // a sticker
	for _, tc := range []struct {
		name string
		u    *pipeline.Update
		want string
	}{
		{"sticker", sticker, "I need words"},
		{"empty", c.answer(7, qid, "   "), "I need words"},
		{"too long", c.answer(7, qid, strings.Repeat("é", 1001)), "at most 1000 characters"},
	} {
		r, err := c.handle(tc.u)
		q, next := c.asked()
		if err != nil || r != nil || !strings.Contains(q.Text, tc.want) || next == qid {
			t.Errorf("%s: %+v, %v; asked %q", tc.name, r, err, q.Text)
		}
		qid = next
	}
	if r, err := c.handle(c.answer(7, qid, strings.Repeat("é", 1000))); err != nil || r == nil || r.PredictionID == "" {
		t.Errorf("1000 characters: %+v, %v; want a prediction", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions", len(created))
	}
}

func TestCancelForgetsTheQuestionAndOtherRepliesAreMessages(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{kontext} })
	if _, err := c.handle(c.photo(7, "en")); err != nil {
		t.Fatal(err)
	}
	_, qid := c.asked()
	r, err := c.handle(c.answer(7, qid, "/cancel"))
	if err != nil || r == nil || r.Reply == nil || r.Reply.Text != "OK, nothing will be done." {
		t.Fatalf("/cancel: %+v, %v", r, err)
	}
	for name, u := range map[string]*pipeline.Update{"after /cancel": c.answer(7, qid, "anime"), "to another message": c.answer(7, 4242, "hi")} {
		r, err := c.handle(u)
		if err != nil || r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "Send me a photo") {
			t.Errorf("a reply %s: %+v, %v; want the help", name, r, err)
		}
	}
	if created, _ := c.models.Record(); len(created) != 0 {
		t.Errorf("%d predictions", len(created))
	}
}

func TestARepliedPromptRespectsTheLimits(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) {
		o.Effects, o.MaxActive = []pipeline.Effect{kontext}, 1
	})
	if _, err := c.handle(c.photo(7, "en")); err != nil {
		t.Fatal(err)
	}
	_, qid := c.asked()
	if r, err := c.handle(c.answer(7, qid, "anime")); err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("first: %+v, %v", r, err)
	}
	r, err := c.handle(c.answer(7, qid, "watercolor"))
	if err != nil || r == nil || r.Reply == nil || !strings.Contains(r.Reply.Text, "already have 1 photo") {
		t.Errorf("second while the first runs: %+v, %v; want the limit", r, err)
	}
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions", len(created))
	}
}

func TestStartEventSaysTheModelRunsOnce(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{upscale, kontext} })
	photo, menu := c.menu(7)
	photo.Caption = "anime"
	r, err := c.press(photo, menu, true, "e:kontext", 7)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("press: %+v, %v", r, err)
	}
	sent, _, _ := c.chat.Record()
	if s := sent[len(sent)-1]; s.Edit != menu || !strings.Contains(s.Text, "waiting for the model") {
		t.Errorf("status %+v", s)
	}
	id := r.PredictionID
	c.clock.Advance(42 * time.Second)
	for range 2 { // a duplicate changes nothing
		if err := c.deliver(&pipeline.Outcome{ID: id, Status: pipeline.Processing}); err != nil {
			t.Fatal(err)
		}
	}
	edits := func() []pipeline.Reply {
		sent, _, _ := c.chat.Record()
		var out []pipeline.Reply
		for _, s := range sent {
			if s.Edit == menu {
				out = append(out, s)
			}
		}
		return out
	}
	e := edits()
	if len(e) != 2 || !strings.HasPrefix(e[1].Text, "⚙️ Restyle: processing (0:4") || // 42 s, and the task's second
		!slices.Equal(data(e[1].Buttons), []string{"x:e_kontext"}) {
		t.Fatalf("status edits %+v", e)
	}
	if err := c.deliver(&pipeline.Outcome{ID: id, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/x/o.png"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.deliver(&pipeline.Outcome{ID: id, Status: pipeline.Processing}); err != nil {
		t.Fatal(err)
	}
	if e := edits(); len(e) != 3 || !strings.HasPrefix(e[2].Text, "✅ Restyle") {
		t.Errorf("status edits after the result and a late start %+v", e)
	}
}

func TestWithoutProgressAStartChangesNothing(t *testing.T) {
	c := menuCore(t)
	photo, menu := c.menu(7)
	r, err := c.press(photo, menu, true, "e:upscale", 7)
	if err != nil || r.Progress {
		t.Fatal(r, err)
	}
	before := len(c.chat.Sent)
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Processing}); err != nil {
		t.Fatal(err)
	}
	if len(c.chat.Sent) != before || len(c.store.Keys("deliveries/")) != 0 {
		t.Errorf("a start of an effect without progress sent %+v, wrote %q", c.chat.Sent[before:], c.store.Keys("deliveries/"))
	}
	if created, _ := c.models.Record(); created[0].Progress || strings.Contains(c.chat.Sent[before-1].Text, "waiting") {
		t.Errorf("an effect without progress: %+v, status %q", created[0], c.chat.Sent[before-1].Text)
	}
}

func TestThePromptIsNotLoggedAtInfo(t *testing.T) {
	var logs bytes.Buffer
	store, chat := inmem.NewStore(), inmem.NewChat()
	chat.AddFile("AgACp", jpeg)
	bot, err := pipeline.New(pipeline.Deps{Store: store, Images: store, Chat: chat, Models: &inmem.Models{},
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))},
		pipeline.Options{Effects: []pipeline.Effect{kontext}, WebhookURL: "https://bot.example/webhook/replicate"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	user := &pipeline.User{ID: 7, Language: "en"}
	if _, err := bot.HandleUpdate(ctx, &pipeline.Update{ID: 1, Message: &pipeline.Message{ID: 1, ChatID: 7, Private: true, From: user,
		Date: time.Now(), File: &pipeline.File{ID: "AgACp", Image: true}}}); err != nil {
		t.Fatal(err)
	}
	r, err := bot.HandleUpdate(ctx, &pipeline.Update{ID: 2, Message: &pipeline.Message{ID: 3, ChatID: 7, Private: true, From: user,
		Date: time.Now(), Text: "a secret wish", ReplyTo: &pipeline.Message{ID: inmem.PostBase, ChatID: 7, From: &pipeline.User{ID: botID, Bot: true}}}})
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("reply: %+v, %v", r, err)
	}
	if err := bot.HandlePrediction(ctx, &pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Failed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "secret wish") || !strings.Contains(logs.String(), "asked for a prompt") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestTheStatusOfARepliedPromptCancelsIt(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{kontext} })
	photo := c.photo(7, "en")
	if _, err := c.handle(photo); err != nil {
		t.Fatal(err)
	}
	_, qid := c.asked()
	reply := c.answer(7, qid, "anime")
	r, err := c.handle(reply)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("reply: %+v, %v", r, err)
	}
	status := c.task(r.PredictionID).StatusMessage
	cancel := fmt.Sprintf("x:r_kontext_%d", reply.Message.ID)
	if _, err := c.press(photo.Message, status, true, cancel, 8); err != nil {
		t.Fatal(err)
	}
	if _, canceled := c.models.Record(); len(canceled) != 0 {
		t.Fatalf("someone else canceled it: %q", canceled)
	}
	resp, err := c.press(photo.Message, status, true, cancel, 7)
	if err != nil || resp == nil || resp.Reply == nil || resp.Reply.Edit != status || !strings.Contains(resp.Reply.Text, "canceled") {
		t.Fatalf("cancel: %+v, %v", resp, err)
	}
	if _, canceled := c.models.Record(); !slices.Equal(canceled, []string{r.PredictionID}) {
		t.Errorf("canceled %q", canceled)
	}
}

// A photo that starts an effect with progress by itself gets a status it
// can change (an "accepted" sent in the webhook's answer has no id).
func TestACaptionedPhotoOfAnEffectWithProgressGetsAStatus(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{upscale, kontext} })
	photo := c.photo(7, "en")
	photo.Message.Caption = "/kontext oil painting"
	r, err := c.handle(photo)
	if err != nil || r == nil || r.PredictionID == "" || r.Reply != nil {
		t.Fatalf("photo: %+v, %v; want a prediction told by a posted status", r, err)
	}
	sent, _, _ := c.chat.Record()
	status := sent[len(sent)-1]
	task := c.task(r.PredictionID)
	if !strings.Contains(status.Text, "waiting for the model") || status.ReplyTo != photo.Message.ID || len(status.Buttons) != 0 ||
		task == nil || task.StatusMessage != c.chat.Posted[len(sent)-1] || task.Prompt != "oil painting" || task.PromptKept {
		t.Fatalf("status %+v, task %+v", status, task)
	}
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Processing}); err != nil {
		t.Fatal(err)
	}
	sent, _, _ = c.chat.Record()
	if e := sent[len(sent)-1]; e.Edit != task.StatusMessage || !strings.Contains(e.Text, "processing") || len(e.Buttons) != 0 {
		t.Errorf("after the start: %+v", e)
	}
}

// A reply whose prediction fails for now: Telegram delivers it again; the
// status it posted says so, and the retry posts its own.
func TestATransientFailureOfARepliedPromptIsRetried(t *testing.T) {
	c := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{kontext} })
	if _, err := c.handle(c.photo(7, "en")); err != nil {
		t.Fatal(err)
	}
	_, qid := c.asked()
	reply := c.answer(7, qid, "anime")
	c.models.FailNext("create", fmt.Errorf("connection reset"))
	if r, err := c.handle(reply); err == nil {
		t.Fatalf("first delivery: %+v; want an error, for Telegram to retry", r)
	}
	sent, _, _ := c.chat.Record()
	first := c.chat.Posted[len(sent)-2]
	if e := sent[len(sent)-1]; e.Edit != first || e.Text != "⏳ Restyle: the service is busy, trying again…" || len(e.Buttons) != 0 {
		t.Errorf("the first status after the failure: %+v", e)
	}
	r, err := c.handle(reply)
	if err != nil || r == nil || r.PredictionID == "" {
		t.Fatalf("redelivery: %+v, %v", r, err)
	}
	if task := c.task(r.PredictionID); task == nil || task.StatusMessage == first || task.StatusMessage == 0 {
		t.Errorf("task %+v: want the retry's own status", task)
	}
}
