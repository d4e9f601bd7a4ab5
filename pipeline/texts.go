package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/internal/tgtext"
)

// texts holds every word the bot says to a Telegram user, in one language.
// Fields with %-verbs are formats; the comment says what fills them.
type texts struct {
	lang string

	Accepted      string
	AcceptedAlbum string
	AcceptedAs    string // %s: the effect
	Choose        string // the menu's question
	NotAllowed    string // %d: the user's id
	LimitActive   [3]string
	LimitDaily    [3]string
	NotAnImage    string
	TooBig        string
	NoDownload    string
	Busy          string
	BusyPress     string
	Unavailable   string

	// How a prediction ended, sorted; the model's own words go to the log.
	OutOfMemory   string
	InputRefused  string
	TookTooLong   string
	Expired       string
	ModelFailed   string
	NoOutput      string
	Undeliverable string
	TooSlow       string // the result could not be sent in time
	TooSlowAgain  string // the same, with the Again button under it

	// Presses and the status of a chosen effect.
	Starting        string // %s: the effect
	AlreadyStarted  string
	Processing      string // %s: the effect
	Done            string // %s: the effect, %s: how long
	DoneNoTime      string // %s: the effect
	CanceledStatus  string // %s: the effect
	Canceling       string
	NothingToCancel string
	StillStarting   string
	NotYours        string
	PhotoGone       string
	EffectGone      string
	ButtonCancel    string
	ButtonAgain     string
	ButtonOther     string
	CommandNoPhoto  string // %s: the command

	Caption       string // %s: the effect, %s: how long
	CaptionNoTime string // %s: the effect
	Seconds       string // %s: the number

	// /start and /help, and /effects.
	HelpOne      string // %s: the effect
	HelpDefault  string // %s: the effect
	HelpMenu     string
	HelpFiles    string
	HelpPrompt   string // %s: the effects that take one
	HelpCommands string // %s: a command
	HelpEnd      string
	HelpEndMenu  string
	EffectsList  string
	// The command menu's descriptions.
	CommandStart, CommandHelp, CommandEffects string
}

var ru = texts{
	lang:          "ru",
	Accepted:      "Фото получил, обрабатываю…",
	AcceptedAlbum: "Альбом получил, обработаю каждое фото…",
	AcceptedAs:    "Фото получил, запускаю «%s»…",
	Choose:        "Что сделать с этим фото?",
	NotAllowed:    "Это закрытый бот. Ваш ID: %d — передайте его владельцу.",
	LimitActive: [3]string{
		"У вас уже обрабатывается %d фото. Дождитесь результата и присылайте следующее.",
		"У вас уже обрабатываются %d фото. Дождитесь результатов и присылайте следующие.",
		"У вас уже обрабатываются %d фото. Дождитесь результатов и присылайте следующие.",
	},
	LimitDaily: [3]string{
		"На сегодня всё: в день можно обработать %d фото. Приходите завтра!",
		"На сегодня всё: в день можно обработать %d фото. Приходите завтра!",
		"На сегодня всё: в день можно обработать %d фото. Приходите завтра!",
	},
	NotAnImage:  "Это не похоже на изображение. Пришлите фото (JPEG, PNG или WebP).",
	TooBig:      "Файл слишком большой: боты Telegram могут скачивать файлы до 20 МБ. Пришлите фото поменьше.",
	NoDownload:  "Не получилось скачать это фото из Telegram. Пришлите его ещё раз.",
	Busy:        "Сервис сейчас перегружен. Пришлите фото ещё раз чуть позже.",
	BusyPress:   "Сервис сейчас перегружен. Нажмите ещё раз чуть позже.",
	Unavailable: "Бот временно не может обрабатывать фото — владелец уже разбирается. Попробуйте позже.",

	OutOfMemory:   "Модели не хватило памяти на это фото. Пришлите фото поменьше.",
	InputRefused:  "Модель не смогла прочитать это фото. Попробуйте другое — в JPEG или PNG.",
	TookTooLong:   "Обработка заняла слишком много времени, и я её остановил. Попробуйте ещё раз или пришлите фото поменьше.",
	Expired:       "Модель так и не взялась за фото: сейчас большая очередь. Пришлите его ещё раз чуть позже.",
	ModelFailed:   "Модель не справилась с этим фото. Попробуйте ещё раз или пришлите другое.",
	NoOutput:      "Модель ничего не вернула. Попробуйте ещё раз или пришлите другое фото.",
	Undeliverable: "Результат готов, но Telegram не принял файл. Попробуйте ещё раз.",
	TooSlow:       "Результат готов, но он слишком большой: не получилось отправить его вовремя. Пришлите фото ещё раз.",
	TooSlowAgain:  "Результат готов, но он слишком большой: не получилось отправить его вовремя. Нажмите «Ещё раз» или пришлите фото заново.",

	Starting:        "Запускаю «%s»",
	AlreadyStarted:  "Уже обрабатываю",
	Processing:      "⏳ %s — обрабатываю…",
	Done:            "✅ %s — готово за %s",
	DoneNoTime:      "✅ %s — готово",
	CanceledStatus:  "⏹ %s — отменено",
	Canceling:       "Отменяю…",
	NothingToCancel: "Уже закончил — отменять нечего",
	StillStarting:   "Ещё запускаю — нажмите через секунду",
	NotYours:        "Отменить может только тот, кто запустил",
	PhotoGone:       "Не могу найти это фото — пришлите его ещё раз",
	EffectGone:      "Этого эффекта больше нет — выберите другой",
	ButtonCancel:    "Отменить",
	ButtonAgain:     "🔁 Ещё раз",
	ButtonOther:     "✨ Другие эффекты",
	CommandNoPhoto:  "Пришлите фото с подписью %s — или просто фото, и выберите, что с ним сделать.",

	Caption:       "%s · %s",
	CaptionNoTime: "%s",
	Seconds:       "%s с",

	HelpOne:      "Пришлите фото — я применю к нему «%s» и пришлю результат ответом на ваше сообщение. Можно прислать альбом: обработаю каждое фото.",
	HelpDefault:  "Пришлите фото — я сразу применю к нему «%s». Другие эффекты — под результатом. Можно прислать альбом.",
	HelpMenu:     "Пришлите фото и выберите, что с ним сделать. Можно прислать альбом: меню будет у каждого фото.",
	HelpFiles:    "Фото, отправленное файлом, не теряет в качестве.",
	HelpPrompt:   "Подпись к фото станет подсказкой для модели (%s).",
	HelpCommands: "Подпись вроде %s запускает эффект сразу, без меню.",
	HelpEnd:      "/help — эта подсказка",
	HelpEndMenu:  "/effects — что я умею, /help — эта подсказка",
	EffectsList:  "Что я умею:",
	CommandStart: "Что умеет этот бот", CommandHelp: "Как им пользоваться", CommandEffects: "Список эффектов",
}

var en = texts{
	lang:          "en",
	Accepted:      "Got it, processing your photo…",
	AcceptedAlbum: "Got your album, processing every photo…",
	AcceptedAs:    "Got it, starting “%s”…",
	Choose:        "What should I do with this photo?",
	NotAllowed:    "This is a private bot. Your ID is %d: send it to the bot's owner to get access.",
	LimitActive: [3]string{
		"You already have %d photo being processed. Please wait for it, then send more.",
		"You already have %d photos being processed. Please wait for them, then send more.",
	},
	LimitDaily: [3]string{
		"That's all for today: the limit is %d photo a day. Come back tomorrow!",
		"That's all for today: the limit is %d photos a day. Come back tomorrow!",
	},
	NotAnImage:  "That doesn't look like an image. Please send a photo (JPEG, PNG or WebP).",
	TooBig:      "This file is too big: Telegram bots can download files up to 20 MB. Please send a smaller photo.",
	NoDownload:  "I couldn't download this photo from Telegram. Please send it again.",
	Busy:        "The service is busy right now. Please send the photo again a bit later.",
	BusyPress:   "The service is busy right now. Please press again a bit later.",
	Unavailable: "The bot can't process photos right now; its owner is already on it. Please try again later.",

	OutOfMemory:   "The model ran out of memory on this photo. Please send a smaller one.",
	InputRefused:  "The model couldn't read this photo. Please try another one, as JPEG or PNG.",
	TookTooLong:   "This took too long, so I stopped it. Please try again, or send a smaller photo.",
	Expired:       "The model never got to your photo: the queue is long right now. Please send it again a bit later.",
	ModelFailed:   "The model couldn't process this photo. Please try again, or send another one.",
	NoOutput:      "The model returned nothing. Please try again, or send another photo.",
	Undeliverable: "The result is ready, but Telegram didn't accept the file. Please try again.",
	TooSlow:       "The result is ready, but it was too big to send in time. Please send the photo again.",
	TooSlowAgain:  "The result is ready, but it was too big to send in time. Press Again, or send the photo again.",

	Starting:        "Starting “%s”",
	AlreadyStarted:  "Already on it",
	Processing:      "⏳ %s: processing…",
	Done:            "✅ %s: done in %s",
	DoneNoTime:      "✅ %s: done",
	CanceledStatus:  "⏹ %s: canceled",
	Canceling:       "Canceling…",
	NothingToCancel: "Already finished: nothing to cancel",
	StillStarting:   "Still starting: press again in a second",
	NotYours:        "Only the person who started this can cancel it",
	PhotoGone:       "I can no longer get that photo: please send it again",
	EffectGone:      "That effect is gone: please pick another one",
	ButtonCancel:    "Cancel",
	ButtonAgain:     "🔁 Again",
	ButtonOther:     "✨ Other effects",
	CommandNoPhoto:  "Send a photo with the caption %s, or just a photo and pick what to do with it.",

	Caption:       "%s · %s",
	CaptionNoTime: "%s",
	Seconds:       "%s s",

	HelpOne:      "Send me a photo: I'll apply “%s” to it and reply with the result. Albums work too: every photo gets processed.",
	HelpDefault:  "Send me a photo: I'll apply “%s” to it at once. The other effects are under the result. Albums work too.",
	HelpMenu:     "Send me a photo and pick what to do with it. Albums work too: every photo gets its own menu.",
	HelpFiles:    "A photo sent as a file keeps its full quality.",
	HelpPrompt:   "The photo's caption becomes the model's prompt (%s).",
	HelpCommands: "A caption such as %s starts an effect at once, without the menu.",
	HelpEnd:      "/help shows this message",
	HelpEndMenu:  "/effects lists what I can do, /help shows this message",
	EffectsList:  "What I can do:",
	CommandStart: "What this bot does", CommandHelp: "How to use it", CommandEffects: "The effects",
}

// words are a language's texts, completed with what depends on the bot's
// effects (built once, in New).
type words struct {
	*texts
	*promptTexts
	*payTexts
	help    string // /start and /help
	effects string // /effects
	menu    [][]Button
}

func newWords(t *texts, b *Bot) *words {
	w := &words{texts: t, promptTexts: &enPrompt, payTexts: payWords[t.lang]}
	if t.lang == "ru" {
		w.promptTexts = &ruPrompt
	}
	var help []string
	if about := b.opt.About.In(t.lang); about != "" {
		help = append(help, about, "")
	}
	var prompts []string
	for _, e := range b.opt.Effects {
		if e.PromptField != "" {
			prompts = append(prompts, e.Title.In(t.lang))
		}
	}
	switch {
	case b.single():
		help = append(help, fmt.Sprintf(t.HelpOne, b.opt.Effects[0].Title.In(t.lang)))
	case b.opt.DefaultEffect != "":
		help = append(help, fmt.Sprintf(t.HelpDefault, b.effect[b.opt.DefaultEffect].Title.In(t.lang)))
	default:
		help = append(help, t.HelpMenu)
	}
	if !b.single() {
		for _, e := range b.opt.Effects {
			line := "• " + e.Title.In(t.lang)
			if d := e.Description.In(t.lang); d != "" {
				line += " — " + d
			}
			help = append(help, line)
		}
	}
	help = append(help, t.HelpFiles)
	if len(prompts) > 0 {
		help = append(help, fmt.Sprintf(t.HelpPrompt, strings.Join(prompts, ", ")))
	}
	help = append(help, b.prices(w)...)
	if !b.single() {
		help = append(help, fmt.Sprintf(t.HelpCommands, "/"+b.opt.Effects[0].ID), "", t.HelpEndMenu)
		list := []string{t.EffectsList}
		for _, e := range b.opt.Effects {
			line := "/" + e.ID + " — " + e.Title.In(t.lang)
			if d := e.Description.In(t.lang); d != "" {
				line += ": " + d
			}
			list = append(list, line)
		}
		w.effects = strings.Join(list, "\n")
		for _, e := range b.opt.Effects {
			w.menu = append(w.menu, []Button{chooseButton(e.Title.In(t.lang), e.ID)})
		}
	} else {
		help = append(help, "", t.HelpEnd)
	}
	w.help = strings.Join(help, "\n")
	return w
}

// wordsFor picks the user's language: Russian for "ru", English otherwise.
func (b *Bot) wordsFor(languageCode string) *words {
	if baseLanguage(languageCode) == "ru" {
		return b.words["ru"]
	}
	return b.words["en"]
}

// plural picks the form of forms for n: Russian has three (1, 21...; 2-4,
// 22-24...; 5-20, 25...), English two. Written here because it is all the
// bot needs of CLDR's plural rules.
func (w *words) plural(n int, forms [3]string) string {
	i := 1
	switch w.lang {
	case "ru":
		switch n10, n100 := abs(n)%10, abs(n)%100; {
		case n10 == 1 && n100 != 11:
			i = 0
		case n10 >= 2 && n10 <= 4 && (n100 < 12 || n100 > 14):
			i = 1
		default:
			i = 2
		}
	default:
		if abs(n) == 1 {
			i = 0
		}
	}
	return fmt.Sprintf(forms[i], n)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// seconds says how long something took: "3.2 s", «3,2 с».
func (w *words) seconds(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
	if w.lang == "ru" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return fmt.Sprintf(w.Seconds, s)
}

// Under a tenth of a second is no measure of a model's run: "0.0 s" says
// nothing.
const shortest = 100 * time.Millisecond

func (w *words) caption(title string, took time.Duration) string {
	if took < shortest {
		return fmt.Sprintf(w.CaptionNoTime, title)
	}
	return fmt.Sprintf(w.Caption, title, w.seconds(took))
}

func (w *words) done(title string, took time.Duration) string {
	if took < shortest {
		return fmt.Sprintf(w.DoneNoTime, title)
	}
	return fmt.Sprintf(w.Done, title, w.seconds(took))
}

// shorten keeps the start of a model's text output within n UTF-16 code
// units, which is how Telegram measures a message (4096) or a caption
// (1024).
func shorten(s string, n int) string { return tgtext.Clip(strings.TrimSpace(s), n) }

// Command is an entry of the bot's command menu.
type Command struct {
	Command, Description string
}

// Commands is the command menu, by language code ("" for everyone else),
// registered by photobot setup.
func (b *Bot) Commands() map[string][]Command {
	menu := func(t *texts, p *payTexts) []Command {
		c := []Command{{"start", t.CommandStart}, {"help", t.CommandHelp}}
		if !b.single() {
			c = append(c, Command{"effects", t.CommandEffects})
		}
		if b.pay != nil {
			c = append(c, Command{"balance", p.CommandBalance}, Command{"buy", p.CommandBuy},
				Command{"paysupport", p.CommandPaySupport}, Command{"terms", p.CommandTerms})
		}
		return c
	}
	return map[string][]Command{"": menu(&en, &enPay), "ru": menu(&ru, &ruPay)}
}
