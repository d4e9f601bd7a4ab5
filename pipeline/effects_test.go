package pipeline_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photobot/photobot/pipeline"
)

var (
	upscale = pipeline.Effect{ID: "upscale", Title: pipeline.Text{"en": "Upscale ×4", "ru": "Увеличить ×4"},
		Description: pipeline.Text{"en": "Four times the pixels"}, Model: "nightmareai/real-esrgan", Input: map[string]any{"scale": 4},
		ImageField: "image", Send: pipeline.AsBoth}
	nobg = pipeline.Effect{ID: "nobg", Title: pipeline.Text{"en": "Remove background", "ru": "Убрать фон"},
		Model: "cjwbw/rembg", ImageField: "img", Send: pipeline.AsDocument}
	restyle = pipeline.Effect{ID: "restyle", Title: pipeline.Text{"en": "Restyle"}, Model: "acme/restyle", ImageField: "image", PromptField: "prompt"}
)

func menuCore(t *testing.T, change ...func(*pipeline.Options)) *core {
	return newCore(t, append([]func(*pipeline.Options){func(o *pipeline.Options) {
		o.Effects = []pipeline.Effect{upscale, nobg, restyle}
	}}, change...)...)
}

// menu sends a photo and returns it with the menu's message id (the fake
// chat's ids are made up here, as Telegram would number them).
func (c *core) menu(user int64) (*pipeline.Message, int) {
	c.t.Helper()
	u := c.photo(user, "en")
	r, err := c.handle(u)
	if err != nil || r == nil || r.Reply == nil || r.PredictionID != "" {
		c.t.Fatalf("photo: %+v, %v; want the menu", r, err)
	}
	return u.Message, u.Message.ID + 1000
}

func (c *core) press(photo *pipeline.Message, message int, onText bool, data string, from int64) (*pipeline.Response, error) {
	c.t.Helper()
	n := c.seq.Add(1) // presses come from several goroutines
	u := &pipeline.Update{ID: 50000 + n, Press: &pipeline.Press{ID: fmt.Sprint("q", n),
		From: pipeline.User{ID: from, Language: "en"}, ChatID: photo.ChatID, MessageID: message, OnText: onText, Data: data, Photo: photo}}
	return c.handle(u)
}

func data(rows [][]pipeline.Button) []string {
	var out []string
	for _, row := range rows {
		for _, b := range row {
			out = append(out, b.Data)
		}
	}
	return out
}

func TestPhotoGetsTheMenuAndNothingIsBilled(t *testing.T) {
	c := menuCore(t)
	u := c.photo(7, "ru")
	r, err := c.handle(u)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Reply
	if m.Text != "Что сделать с этим фото?" || m.ReplyTo != u.Message.ID || m.Edit != 0 ||
		!slices.Equal(data(m.Buttons), []string{"e:upscale", "e:nobg", "e:restyle"}) || m.Buttons[1][0].Text != "Убрать фон" {
		t.Errorf("menu %+v", m)
	}
	if created, _ := c.models.Record(); len(created) != 0 || len(c.store.Keys("")) != 0 {
		t.Errorf("before a choice: %d predictions, bucket %v", len(created), c.store.Keys(""))
	}
}

func TestChoosingStartsTheEffectOnceWithACancel(t *testing.T) {
	c := menuCore(t)
	photo, menu := c.menu(7)
	photo.Caption = "ignored: upscale takes no prompt"
	r, err := c.press(photo, menu, true, "e:upscale", 7)
	if err != nil || r == nil || r.PredictionID == "" || r.Reply != nil {
		t.Fatalf("press: %+v, %v", r, err)
	}
	id := r.PredictionID
	// The menu became the status before the prediction was made.
	sent, _, _ := c.chat.Record()
	if len(sent) != 1 || sent[0].Edit != menu || sent[0].Text != "⏳ Upscale ×4: processing…" || !slices.Equal(data(sent[0].Buttons), []string{"x:e_upscale"}) {
		t.Errorf("status %+v", sent)
	}
	created, _ := c.models.Record()
	if len(created) != 1 || created[0].Model != "nightmareai/real-esrgan" || created[0].Input["scale"] != 4 || created[0].Input["prompt"] != nil {
		t.Errorf("predictions %+v", created)
	}
	if task := c.task(id); task.StatusMessage != menu || task.StatusButtons || task.Effect != "upscale" || task.MessageID != photo.ID {
		t.Errorf("task %+v", task)
	}
	// A double tap, and ten concurrent presses from two devices: nothing more.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := c.press(photo, menu, true, "e:upscale", 7); err != nil || r != nil {
				t.Errorf("repeated press: %+v, %v", r, err)
			}
		}()
	}
	wg.Wait()
	if created, _ := c.models.Record(); len(created) != 1 {
		t.Errorf("%d predictions for one button", len(created))
	}
	_, _, answers := c.chat.Record()
	if len(answers) != 11 || answers[0].Text != "Starting “Upscale ×4”" {
		t.Errorf("answers %+v, want 11, every press answered", answers)
	}
	for _, a := range answers[1:] {
		if a.Text != "Already on it" {
			t.Errorf("repeated press answered %q", a.Text)
		}
	}
	// Another effect on the same photo is another prediction.
	if r, err := c.press(photo, menu, true, "e:nobg", 7); err != nil || r.PredictionID == "" || r.PredictionID == id {
		t.Errorf("second effect: %+v, %v", r, err)
	}
}

func TestResultCarriesAgainAndOtherEffectsAndTheStatusEnds(t *testing.T) {
	c := menuCore(t)
	photo, menu := c.menu(7)
	r, _ := c.press(photo, menu, true, "e:upscale", 7)
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded,
		Files: []string{"https://replicate.delivery/x/out.png"}, Took: 3200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sent, results, _ := c.chat.Record()
	if len(results) != 1 {
		t.Fatalf("%d results", len(results))
	}
	sent = sent[1:] // the status while it ran
	res := results[0]
	if res.As != pipeline.AsBoth || res.Name != "upscale" || res.Caption != "Upscale ×4 · 3.2 s" || res.ReplyTo != photo.ID ||
		!slices.Equal(data(res.Buttons), []string{"a:upscale", "m"}) {
		t.Errorf("result %+v", res)
	}
	if len(sent) != 1 || sent[0].Edit != menu || sent[0].Text != "✅ Upscale ×4: done in 3.2 s" || sent[0].Buttons != nil {
		t.Errorf("status at the end: %+v", sent)
	}

	// Again, under the result (a photo: only its buttons can change).
	result := 9001
	r2, err := c.press(photo, result, false, "a:upscale", 7)
	if err != nil || r2 == nil || r2.PredictionID == "" || r2.PredictionID == r.PredictionID {
		t.Fatalf("again: %+v, %v", r2, err)
	}
	sent, _, _ = c.chat.Record()
	if s := sent[len(sent)-1]; !s.ButtonsOnly || s.Edit != result || !slices.Equal(data(s.Buttons), []string{"x:a_upscale"}) {
		t.Errorf("again's status %+v", s)
	}
	if err := c.deliver(&pipeline.Outcome{ID: r2.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/y/out.png"}}); err != nil {
		t.Fatal(err)
	}
	sent, results, _ = c.chat.Record()
	if len(results) != 2 || !slices.Equal(data(results[1].Buttons), []string{"a:upscale", "m"}) {
		t.Errorf("second result %+v", results)
	}
	if last := sent[len(sent)-1]; !last.ButtonsOnly || last.Edit != result || last.Buttons != nil {
		t.Errorf("the older result kept its buttons: %+v", last)
	}

	// Other effects: the menu again, replying to the photo.
	r3, err := c.press(photo, result, false, "m", 7)
	if err != nil || r3.Reply.ReplyTo != photo.ID || len(r3.Reply.Buttons) != 3 {
		t.Errorf("other effects: %+v, %v", r3, err)
	}
}

func TestCancel(t *testing.T) {
	c := menuCore(t, func(o *pipeline.Options) { o.MaxActive = 1 })
	photo, menu := c.menu(7)
	r, _ := c.press(photo, menu, true, "e:nobg", 7)
	id := r.PredictionID
	// Someone else in the chat cannot cancel it.
	if r, err := c.press(photo, menu, true, "x:e_nobg", 8); err != nil || r != nil {
		t.Errorf("stranger's cancel: %+v, %v", r, err)
	}
	if _, canceled := c.models.Record(); len(canceled) != 0 {
		t.Fatalf("a stranger canceled %v", canceled)
	}
	r2, err := c.press(photo, menu, true, "x:e_nobg", 7)
	if err != nil || r2 == nil || r2.Reply.Edit != menu || r2.Reply.Text != "⏹ Remove background: canceled" ||
		!slices.Equal(data(r2.Reply.Buttons), []string{"a:nobg", "m"}) {
		t.Fatalf("cancel: %+v, %v", r2, err)
	}
	if _, canceled := c.models.Record(); !slices.Equal(canceled, []string{id}) {
		t.Errorf("canceled at Replicate: %v", canceled)
	}
	_, _, answers := c.chat.Record()
	if a := answers[len(answers)-1]; a.Text != "Canceling…" || answers[len(answers)-2].Text != "Only the person who started this can cancel it" {
		t.Errorf("answers %+v", answers)
	}
	// The model finishes anyway: nothing is sent, the webhook is answered.
	if err := c.deliver(&pipeline.Outcome{ID: id, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/z/out.png"}}); err != nil {
		t.Errorf("webhook after the cancel: %v", err)
	}
	if _, results, _ := c.chat.Record(); len(results) != 0 {
		t.Errorf("a result was sent after the cancel")
	}
	// The slot is free (MaxActive 1): the next photo starts.
	photo2, menu2 := c.menu(7)
	if r, err := c.press(photo2, menu2, true, "e:upscale", 7); err != nil || r.PredictionID == "" {
		t.Errorf("after the cancel: %+v, %v", r, err)
	}
	// Canceling what is already done says so.
	if r, err := c.press(photo, menu, true, "x:e_nobg", 7); err != nil || r != nil {
		t.Errorf("second cancel: %+v, %v", r, err)
	}
	if _, _, answers := c.chat.Record(); answers[len(answers)-1].Text != "Already finished: nothing to cancel" {
		t.Errorf("answer %+v", answers[len(answers)-1])
	}
}

func TestCaptionCommandAndDefaultEffectStartAtOnce(t *testing.T) {
	c := menuCore(t)
	u := c.photo(7, "en")
	u.Message.Caption = "/restyle@photo_bot  as a watercolor "
	r, err := c.handle(u)
	if err != nil || r.PredictionID == "" || r.Reply.Text != "Got it, starting “Restyle”…" {
		t.Fatalf("caption command: %+v, %v", r, err)
	}
	if created, _ := c.models.Record(); created[0].Model != "acme/restyle" || created[0].Input["prompt"] != "as a watercolor" {
		t.Errorf("prediction %+v", created[0])
	}
	d := menuCore(t, func(o *pipeline.Options) { o.DefaultEffect = "nobg" })
	r, err = d.handle(d.photo(7, "en"))
	if err != nil || r.PredictionID == "" {
		t.Fatalf("default effect: %+v, %v", r, err)
	}
	if err := d.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/a/out.png"}}); err != nil {
		t.Fatal(err)
	}
	if _, results, _ := d.chat.Record(); results[0].As != pipeline.AsDocument || !slices.Equal(data(results[0].Buttons), []string{"a:nobg", "m"}) {
		t.Errorf("result %+v: the menu must stay reachable", results[0])
	}
}

func TestPressesMeetLimitsAccessAndGonePhotos(t *testing.T) {
	allowed, _ := pipeline.ParseUsers("7")
	c := menuCore(t, func(o *pipeline.Options) { o.MaxActive = 1; o.Allowed = allowed })
	photo, menu := c.menu(7)
	first, _ := c.press(photo, menu, true, "e:upscale", 7)
	photo2, menu2 := c.menu(7)
	if r, err := c.press(photo2, menu2, true, "e:upscale", 7); err != nil || r != nil {
		t.Fatalf("over the limit: %+v, %v; want only an alert", r, err)
	}
	_, _, answers := c.chat.Record()
	if a := answers[len(answers)-1]; !a.Alert || a.Text != "You already have 1 photo being processed. Please wait for it, then send more." {
		t.Errorf("limit answer %+v", a)
	}
	// Once the first is done, the same button works.
	if err := c.deliver(&pipeline.Outcome{ID: first.PredictionID, Status: pipeline.Succeeded, Files: []string{"https://replicate.delivery/b/out.png"}}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.press(photo2, menu2, true, "e:upscale", 7); err != nil || r == nil || r.PredictionID == "" {
		t.Errorf("after the slot freed: %+v, %v", r, err)
	}
	// A stranger's press costs nothing and shows their id.
	if r, _ := c.press(photo, menu, true, "e:nobg", 99); r != nil {
		t.Errorf("stranger: %+v", r)
	}
	_, _, answers = c.chat.Record()
	if a := answers[len(answers)-1]; !strings.Contains(a.Text, "Your ID is 99") || !a.Alert {
		t.Errorf("stranger's answer %+v", a)
	}
	// The photo deleted, or the message too old to show it.
	gone := *photo
	gone.File = nil
	if r, _ := c.press(&gone, menu, true, "e:nobg", 7); r != nil {
		t.Errorf("photo gone: %+v", r)
	}
	_, _, answers = c.chat.Record()
	if a := answers[len(answers)-1]; a.Text != "I can no longer get that photo: please send it again" {
		t.Errorf("photo gone answered %+v", a)
	}
	if created, _ := c.models.Record(); len(created) != 2 {
		t.Errorf("%d predictions", len(created))
	}
}

func TestPressFailuresAreToldNotRetried(t *testing.T) {
	c := menuCore(t)
	photo, menu := c.menu(7)
	c.models.FailNext("create", errors.New("replicate: 503"))
	r, err := c.press(photo, menu, true, "e:upscale", 7)
	if err != nil || r == nil || r.Reply.Edit != menu || r.Reply.Text != "The service is busy right now. Please press again a bit later." ||
		len(r.Reply.Buttons) != 3 {
		t.Fatalf("transient failure: %+v, %v; want the menu back with 'busy', and no retry by Telegram", r, err)
	}
	if r, err := c.press(photo, menu, true, "e:upscale", 7); err != nil || r.PredictionID == "" {
		t.Errorf("the same button again: %+v, %v", r, err)
	}
}

func TestFailedPredictionIsToldPlainlyInTheStatus(t *testing.T) {
	c := menuCore(t)
	photo, menu := c.menu(7)
	r, _ := c.press(photo, menu, true, "e:upscale", 7)
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Failed,
		Error: "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 22.20 GiB total capacity)"}); err != nil {
		t.Fatal(err)
	}
	sent, results, _ := c.chat.Record()
	if len(results) != 0 || len(sent) != 2 {
		t.Fatalf("sent %+v, results %+v", sent, results)
	}
	if s := sent[1]; s.Edit != menu || s.Text != "The model ran out of memory on this photo. Please send a smaller one." ||
		!slices.Equal(data(s.Buttons), []string{"a:upscale", "m"}) {
		t.Errorf("status %+v", s)
	}
}

func TestFailuresAreSorted(t *testing.T) {
	for _, tc := range []struct {
		status    pipeline.Status
		err, want string
	}{
		{pipeline.Failed, "CUDA out of memory. Tried to allocate 2.00 GiB", "ran out of memory"},
		{pipeline.Failed, "torch.OutOfMemoryError: CUDA", "ran out of memory"},
		{pipeline.Failed, "PIL.UnidentifiedImageError: cannot identify image file", "couldn't read this photo"},
		{pipeline.Failed, "Prediction timed out", "took too long"},
		{pipeline.Failed, "Traceback (most recent call last): KeyError: 'x'", "couldn't process this photo"},
		{pipeline.Canceled, "", "took too long"},
		{pipeline.Aborted, "", "never got to your photo"},
		{pipeline.Succeeded, "", "returned nothing"},
	} {
		c := newCore(t)
		r, _ := c.handle(c.photo(7, "en"))
		if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: tc.status, Error: tc.err}); err != nil {
			t.Fatal(err)
		}
		sent, _, _ := c.chat.Record()
		if len(sent) != 1 || !strings.Contains(sent[0].Text, tc.want) || (tc.err != "" && strings.Contains(sent[0].Text, tc.err)) {
			t.Errorf("%s %q: told %+v, want %q", tc.status, tc.err, sent, tc.want)
		}
	}
}

func TestWordsUsersRead(t *testing.T) {
	c := menuCore(t, func(o *pipeline.Options) {
		o.About = pipeline.Text{"en": "Photos, better.", "ru": "Фото, только лучше."}
	})
	ask := func(text, lang string) string {
		t.Helper()
		r, err := c.handle(&pipeline.Update{ID: 1, Message: &pipeline.Message{ID: 1, ChatID: 5, Private: true,
			From: &pipeline.User{ID: 5, Language: lang}, Text: text}})
		if err != nil || r == nil || r.Reply == nil {
			t.Fatalf("%s: %+v, %v", text, r, err)
		}
		return r.Reply.Text
	}
	help := ask("/start", "ru")
	for _, want := range []string{"Фото, только лучше.", "Увеличить ×4", "Убрать фон", "Restyle", "не теряет в качестве", "подсказкой для модели (Restyle)", "/effects"} {
		if !strings.Contains(help, want) {
			t.Errorf("ru help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "nightmareai") {
		t.Errorf("help names a model's slug:\n%s", help)
	}
	if effects := ask("/effects", "en"); !strings.Contains(effects, "/upscale — Upscale ×4: Four times the pixels") {
		t.Errorf("/effects:\n%s", effects)
	}
	if got := ask("/upscale", "en"); !strings.Contains(got, "caption /upscale") {
		t.Errorf("/upscale alone: %q", got)
	}
	// Captions are mentioned only when an effect takes a prompt.
	d := newCore(t, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{upscale} })
	r, _ := d.handle(&pipeline.Update{ID: 1, Message: &pipeline.Message{ID: 1, ChatID: 5, Private: true, From: &pipeline.User{ID: 5}, Text: "/help"}})
	if strings.Contains(r.Reply.Text, "caption") || !strings.Contains(r.Reply.Text, "Upscale ×4") {
		t.Errorf("one effect without a prompt:\n%s", r.Reply.Text)
	}
}

func TestPluralsOfTheLimits(t *testing.T) {
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"ru", 1, "У вас уже обрабатывается 1 фото."},
		{"ru", 2, "У вас уже обрабатываются 2 фото."},
		{"ru", 5, "У вас уже обрабатываются 5 фото."},
		{"ru", 11, "У вас уже обрабатываются 11 фото."},
		{"ru", 21, "У вас уже обрабатывается 21 фото."},
		{"en", 1, "You already have 1 photo being processed."},
		{"en", 2, "You already have 2 photos being processed."},
	} {
		c := newCore(t, func(o *pipeline.Options) { o.MaxActive = tc.n })
		var last *pipeline.Response
		for range tc.n + 1 {
			last, _ = c.handle(c.photo(7, tc.lang))
		}
		if last == nil || !strings.HasPrefix(last.Reply.Text, tc.want) {
			t.Errorf("%s %d: %+v, want %q", tc.lang, tc.n, last, tc.want)
		}
	}
	c := newCore(t, func(o *pipeline.Options) { o.DailyLimit = 1 })
	c.handle(c.photo(7, "en"))
	if r, _ := c.handle(c.photo(7, "en")); !strings.Contains(r.Reply.Text, "the limit is 1 photo a day") {
		t.Errorf("daily limit: %q", r.Reply.Text)
	}
}

func TestCommandsMenu(t *testing.T) {
	c := menuCore(t)
	cmds := c.bot.Commands()
	if len(cmds[""]) != 3 || cmds["ru"][2].Command != "effects" {
		t.Errorf("commands %+v", cmds)
	}
	if one := newCore(t).bot.Commands(); len(one[""]) != 2 {
		t.Errorf("one effect: %+v", one)
	}
}
