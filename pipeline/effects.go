package pipeline

import (
	"maps"
	"slices"
	"strings"
)

// Effect is one thing the bot can do to a photo: a model with its inputs,
// offered to the user by its title (EFFECTS; without it, the single effect
// of REPLICATE_MODEL).
type Effect struct {
	ID          string // [a-z0-9_]{1,32}; also the command /ID
	Title       Text
	Description Text
	Model       string         // owner/name, owner/name:version or a version id
	Input       map[string]any // the model's other inputs
	ImageField  string         // the input that receives the photo's URL
	PromptField string         // the input that receives the caption; "" for none
	Send        SendAs

	// PromptRequired: started without a prompt, the effect asks for one
	// (it has a PromptField); PromptHint are the words that ask.
	PromptRequired bool
	PromptHint     Text
	// Progress: the status also says when the model has started.
	Progress bool

	// Price is what one photo costs the user, in Telegram Stars: the
	// effect's price, else PRICE_STARS; 0 when free or payments are off.
	Price int
	// What a run costs the operator at Replicate, in USD: per run
	// (Cost), or per second of model time (CostPerSecond); 0 unknown.
	Cost, CostPerSecond float64
}

// SendAs is how a result reaches the user.
type SendAs string

const (
	// AsPhoto: a photo, which Telegram recompresses (about 2560 px).
	AsPhoto SendAs = "photo"
	// AsDocument: the output file itself, untouched.
	AsDocument SendAs = "document"
	// AsBoth: the photo as a preview, then the file.
	AsBoth SendAs = "both"
)

// Text is a string in several languages, by language code ("en", "ru").
type Text map[string]string

// In returns the text in lang, else in English, else in any language.
func (t Text) In(lang string) string {
	if s, ok := t[baseLanguage(lang)]; ok {
		return s
	}
	if s, ok := t["en"]; ok {
		return s
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		return t[k]
	}
	return ""
}

func baseLanguage(code string) string {
	code = strings.ToLower(code)
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	return code
}

// request is the prediction of effect e on the photo at url, with caption
// as the prompt when the effect takes one.
func (e *Effect) request(url, caption string) *PredictionRequest {
	input := maps.Clone(e.Input)
	if input == nil {
		input = map[string]any{}
	}
	input[e.ImageField] = url
	if caption = strings.TrimSpace(caption); e.PromptField != "" && caption != "" {
		input[e.PromptField] = caption
	}
	return &PredictionRequest{Model: e.Model, Input: input}
}
