package pipeline

// promptTexts are the words of asking for a prompt and of a model's
// progress, in one language (beside texts, which they complete).
type promptTexts struct {
	Ask           string // %s: the effect, %s: the hint
	AskHint       string // the hint of an effect that has none
	AskAgainEmpty string // a reply with no words (a sticker, a photo, nothing)
	AskTooLong    string // %d: the most characters
	AskCanceled   string
	QuestionGone  string
	PromptLine    string // %s: the prompt, under a result
	ButtonPrompt  string

	Waiting  string // %s: the effect
	Running  string // %s: the effect, %s: the time since it was asked (0:42)
	Retrying string // %s: the effect
}

var ruPrompt = promptTexts{
	Ask:           "✏️ %s: %s\n\nОтветьте на это сообщение — или /cancel, если передумали.",
	AskHint:       "опишите, что сделать с фото",
	AskAgainEmpty: "Нужен текст: ответьте словами на это сообщение.",
	AskTooLong:    "Слишком длинно: не больше %d символов. Попробуйте короче.",
	AskCanceled:   "Хорошо, ничего не делаю.",
	QuestionGone:  "Этот вопрос устарел — пришлите фото ещё раз.",
	PromptLine:    "✏️ %s",
	ButtonPrompt:  "✏️ Другой запрос",

	Waiting:  "⏳ %s — жду модель (она может запускаться, это бывает несколько минут)…",
	Running:  "⚙️ %s — обрабатываю (%s)…",
	Retrying: "⏳ %s — сервис перегружен, пробую ещё раз…",
}

var enPrompt = promptTexts{
	Ask:           "✏️ %s: %s\n\nReply to this message, or /cancel if you changed your mind.",
	AskHint:       "describe what to do with the photo",
	AskAgainEmpty: "I need words: reply to this message with some text.",
	AskTooLong:    "That's too long: at most %d characters. Please try something shorter.",
	AskCanceled:   "OK, nothing will be done.",
	QuestionGone:  "This question has expired: please send the photo again.",
	PromptLine:    "✏️ %s",
	ButtonPrompt:  "✏️ Another prompt",

	Waiting:  "⏳ %s: waiting for the model (it may be starting up, this can take a few minutes)…",
	Running:  "⚙️ %s: processing (%s)…",
	Retrying: "⏳ %s: the service is busy, trying again…",
}
