package pipeline

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// texts holds every word the bot says to a Telegram user, in one language.
type texts struct {
	lang          string
	Accepted      string
	AcceptedAlbum string
	Help          string // %s: what the bot does
	NotAllowed    string
	LimitActive   string // %d: the limit
	LimitDaily    string // %d: the limit
	NotAnImage    string
	TooBig        string
	NoDownload    string
	Busy          string
	Unavailable   string
	Rejected      string // %s: the model's reason
	Failed        string // %s: the model's error
	FailedNoText  string
	Canceled      string
	Expired       string
	Empty         string
	Undeliverable string
	Caption       string // %s: effect, %.1f: seconds
	CaptionNoTime string // %s: effect

	help string // built by newTexts
}

var ru = texts{
	lang:          "ru",
	Accepted:      "Задачу принял, ожидайте",
	AcceptedAlbum: "Альбом принял, обработаю каждое фото, ожидайте",
	Help:          "Пришлите мне фотографию (можно альбомом или файлом), и я обработаю её нейросетью %s и пришлю результат ответом на ваше сообщение. Подпись к фото передаётся модели, если она её понимает.\n\n/help — эта подсказка",
	NotAllowed:    "Извините, этот бот работает только для своих пользователей.",
	LimitActive:   "У вас уже обрабатывается %d фото. Дождитесь результата и пришлите ещё.",
	LimitDaily:    "На сегодня лимит исчерпан (%d фото в день). Приходите завтра!",
	NotAnImage:    "Это не похоже на изображение. Пришлите фотографию (JPEG, PNG или WebP).",
	TooBig:        "Файл слишком большой: боты Telegram могут скачивать файлы до 20 МБ. Пришлите фото поменьше.",
	NoDownload:    "Не удалось получить это фото от Telegram. Пришлите его ещё раз.",
	Busy:          "Сервис сейчас перегружен или недоступен. Пожалуйста, пришлите фото ещё раз чуть позже.",
	Unavailable:   "Бот сейчас не может обработать фото: ошибка настройки. Владелец бота уже видит её в логах.",
	Rejected:      "Модель не приняла это фото: %s",
	Failed:        "Не получилось обработать фото: %s",
	FailedNoText:  "Не получилось обработать фото.",
	Canceled:      "Обработка была остановлена: она заняла слишком много времени или была отменена.",
	Expired:       "Обработка не успела начаться вовремя и была отменена. Пришлите фото ещё раз.",
	Empty:         "Модель ничего не вернула.",
	Undeliverable: "Результат готов, но Telegram не принял файл (слишком большой или устаревший).",
	Caption:       "%s · %.1f с",
	CaptionNoTime: "%s",
}

var en = texts{
	lang:          "en",
	Accepted:      "Got it, processing your photo…",
	AcceptedAlbum: "Got your album, processing every photo…",
	Help:          "Send me a photo (an album or an image file works too): I'll process it with the %s neural network and reply with the result. A caption is passed to the model when it takes one.\n\n/help shows this message",
	NotAllowed:    "Sorry, this bot only serves its own users.",
	LimitActive:   "You already have %d photos being processed. Please wait for the results, then send more.",
	LimitDaily:    "You have reached today's limit (%d photos a day). Come back tomorrow!",
	NotAnImage:    "That doesn't look like an image. Please send a photo (JPEG, PNG or WebP).",
	TooBig:        "This file is too big: Telegram bots can download files up to 20 MB. Please send a smaller photo.",
	NoDownload:    "Telegram would not give me this photo. Please send it again.",
	Busy:          "The service is busy or unavailable right now. Please send the photo again a bit later.",
	Unavailable:   "The bot cannot process photos right now because of a configuration error. Its owner can see it in the logs.",
	Rejected:      "The model did not accept this photo: %s",
	Failed:        "Processing failed: %s",
	FailedNoText:  "Processing failed.",
	Canceled:      "Processing was stopped: it took too long or was canceled.",
	Expired:       "Processing did not start in time and was canceled. Please send the photo again.",
	Empty:         "The model returned nothing.",
	Undeliverable: "The result is ready, but Telegram did not accept the file (too big or expired).",
	Caption:       "%s · %.1f s",
	CaptionNoTime: "%s",
}

// newTexts completes a language's texts with what depends on the bot's
// effects.
func newTexts(base *texts, b *Bot) *texts {
	t := *base
	var titles []string
	for _, e := range b.opt.Effects {
		titles = append(titles, e.Title.In(t.lang))
	}
	t.help = fmt.Sprintf(t.Help, strings.Join(titles, ", "))
	return &t
}

// textsFor picks the user's language: Russian for "ru", English otherwise.
func (b *Bot) textsFor(languageCode string) *texts {
	if baseLanguage(languageCode) == "ru" {
		return b.texts["ru"]
	}
	return b.texts["en"]
}

// shorten keeps the start of a model's error text readable in a message.
func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (t *texts) caption(title string, seconds float64) string {
	if seconds <= 0 {
		return fmt.Sprintf(t.CaptionNoTime, title)
	}
	return fmt.Sprintf(t.Caption, title, seconds)
}

// Command is an entry of the bot's command menu.
type Command struct {
	Command, Description string
}

// Commands is the command menu, by language code ("" for everyone else),
// registered by photobot setup.
func (b *Bot) Commands() map[string][]Command {
	return map[string][]Command{
		"": {
			{Command: "start", Description: "What this bot does"},
			{Command: "help", Description: "How to use it"},
		},
		"ru": {
			{Command: "start", Description: "Что умеет этот бот"},
			{Command: "help", Description: "Как им пользоваться"},
		},
	}
}
