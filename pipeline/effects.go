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
