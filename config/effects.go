package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
)

// MaxEffects bounds the menu: one button per effect, and a keyboard longer
// than this is no longer a menu a user reads.
const MaxEffects = 20

var (
	effectIDRe = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	languageRe = regexp.MustCompile(`^[a-z]{2,3}$`)
)

// effectJSON is one entry of EFFECTS, as the operator writes it.
type effectJSON struct {
	ID            string          `json:"id"`
	Title         json.RawMessage `json:"title"`
	Description   json.RawMessage `json:"description"`
	Model         string          `json:"model"`
	Input         json.RawMessage `json:"input"`
	ImageField    string          `json:"image_field"`
	PromptField   string          `json:"prompt_field"`
	Prompt        string          `json:"prompt"`
	PromptHint    json.RawMessage `json:"prompt_hint"`
	Progress      bool            `json:"progress"`
	Send          string          `json:"send"`
	Price         *int            `json:"price"`
	Cost          *float64        `json:"cost"`
	CostPerSecond *float64        `json:"cost_per_second"`
}

// genericTitle is the single model's title without REPLICATE_TITLE: a
// repository name means nothing to a Telegram user.
var genericTitle = pipeline.Text{"en": "Enhance", "ru": "Улучшить"}

// loadEffects: EFFECTS (or EFFECTS_FILE, read through readFile), or the
// single effect of REPLICATE_MODEL and its companions; DEFAULT_EFFECT
// and BOT_ABOUT, which speak of them.
func loadEffects(p *problems, c *Config, readFile func(string) ([]byte, error)) {
	send := pipeline.AsPhoto
	if v := p.get("RESULT_AS", ""); v != "" {
		var err error
		if send, err = parseSend(v); err != nil {
			p.bad("RESULT_AS", "%v", err)
			send = pipeline.AsPhoto
		}
	}
	effects, effectsFile := p.get("EFFECTS", ""), p.get("EFFECTS_FILE", "")
	switch {
	case effects != "" && effectsFile != "":
		p.bad("EFFECTS", "and EFFECTS_FILE are both set: keep one of them")
	case effectsFile != "":
		data, err := readFile(effectsFile)
		if err != nil {
			p.bad("EFFECTS_FILE", "cannot read %s: %v", effectsFile, unwrapped(err))
		} else {
			c.Effects = parseEffects(data, "EFFECTS_FILE", send, p.bad)
		}
	case effects != "":
		c.Effects = parseEffects([]byte(effects), "EFFECTS", send, p.bad)
	}
	if effects != "" || effectsFile != "" {
		for _, name := range []string{"REPLICATE_MODEL", "REPLICATE_TITLE", "REPLICATE_INPUT", "REPLICATE_IMAGE_FIELD",
			"REPLICATE_PROMPT_FIELD", "REPLICATE_COST_PER_SECOND"} {
			if p.get(name, "") != "" {
				p.bad(name, "is set together with EFFECTS: every effect names its own model and inputs; remove %s", name)
			}
		}
	} else {
		loadSingleModel(p, c, send)
	}
	loadDefaultEffect(p, c)
	c.About = textVar(p, "BOT_ABOUT")
}

// loadSingleModel: REPLICATE_MODEL and its companions, one effect.
func loadSingleModel(p *problems, c *Config, send pipeline.SendAs) {
	if m := p.need("REPLICATE_MODEL"); m != "" {
		model, err := replicate.ParseModel(m)
		if err != nil {
			p.bad("REPLICATE_MODEL", "%v", err)
		}
		c.Model = model
	}
	c.Title = textVar(p, "REPLICATE_TITLE")
	if c.Title == nil {
		c.Title = genericTitle
	}
	c.Input = map[string]any{}
	if in := p.get("REPLICATE_INPUT", ""); in != "" {
		if err := json.Unmarshal([]byte(in), &c.Input); err != nil || c.Input == nil {
			p.bad("REPLICATE_INPUT", "not a JSON object (e.g. {\"scale\": 2})")
			c.Input = map[string]any{}
		}
	}
	c.ImageField = p.get("REPLICATE_IMAGE_FIELD", "image")
	if !fieldRe.MatchString(c.ImageField) {
		p.bad("REPLICATE_IMAGE_FIELD", "%q is not an input name (letters, digits, _)", c.ImageField)
	}
	c.PromptField = p.get("REPLICATE_PROMPT_FIELD", "")
	if c.PromptField != "" && !fieldRe.MatchString(c.PromptField) {
		p.bad("REPLICATE_PROMPT_FIELD", "%q is not an input name (letters, digits, _)", c.PromptField)
	}
	if v := p.get("REPLICATE_COST_PER_SECOND", ""); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			p.bad("REPLICATE_COST_PER_SECOND", "%q is not an amount of USD >= 0 (e.g. 0.000225)", v)
		}
		c.CostPerSecond = f
	}
	if c.Model != (replicate.Model{}) {
		c.Effects = []pipeline.Effect{singleEffect(c, send)}
	}
}

// loadDefaultEffect: DEFAULT_EFFECT, one of the effects.
func loadDefaultEffect(p *problems, c *Config) {
	d := p.get("DEFAULT_EFFECT", "")
	if d == "" {
		return
	}
	if !slices.ContainsFunc(c.Effects, func(e pipeline.Effect) bool { return e.ID == d }) && len(c.Effects) > 0 {
		var ids []string
		for _, e := range c.Effects {
			ids = append(ids, e.ID)
		}
		p.bad("DEFAULT_EFFECT", "%q is not one of the effects (%s)", d, strings.Join(ids, ", "))
	}
	c.DefaultEffect = d
}

// singleEffect is the effect of REPLICATE_MODEL and its companions; its
// id comes from the model's name (it is the command /id), its title from
// REPLICATE_TITLE.
func singleEffect(c *Config, send pipeline.SendAs) pipeline.Effect {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, c.Model.Name)
	if id == "" {
		id = "photo"
	}
	return pipeline.Effect{ID: id[:min(len(id), 32)], Title: c.Title,
		Model: c.Model.String(), Input: c.Input, ImageField: c.ImageField, PromptField: c.PromptField,
		Send: send, Price: unpriced, CostPerSecond: c.CostPerSecond}
}

// textVar reads a variable holding words for users: plain text, or
// {"en": ..., "ru": ...}. Nil when unset.
func textVar(p *problems, name string) pipeline.Text {
	v := p.get(name, "")
	switch {
	case v == "":
		return nil
	case !strings.HasPrefix(v, "{"):
		return pipeline.Text{"en": v}
	}
	t, err := parseText(json.RawMessage(v))
	if err != nil {
		p.bad(name, "%v", err)
	}
	return t
}

// unwrapped is err without the operation and path that os.ReadFile puts
// in front (the caller names the file).
func unwrapped(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// parseEffects reads EFFECTS (from where: "EFFECTS" or "EFFECTS_FILE
// <path>"). send is the default of each effect's send (RESULT_AS). Every
// problem is reported, each naming the effect.
func parseEffects(data []byte, where string, send pipeline.SendAs, bad func(name, format string, args ...any)) []pipeline.Effect {
	var list []json.RawMessage
	if err := json.Unmarshal(data, &list); err != nil {
		bad(where, "not a JSON array of effects (%v); each effect is {\"id\", \"title\", \"model\", ...}: see README.md", jsonError(err))
		return nil
	}
	switch {
	case len(list) == 0:
		bad(where, "is an empty list: give at least one effect")
		return nil
	case len(list) > MaxEffects:
		bad(where, "has %d effects; at most %d fit a menu", len(list), MaxEffects)
	}
	var effects []pipeline.Effect
	seen := map[string]bool{}
	for i, item := range list {
		r, name := decodeEffect(item, where, i, bad)
		switch {
		case r.ID == "":
			bad(name, "no \"id\" (a-z, 0-9 and _, up to 32: it is also the command /id)")
		case !effectIDRe.MatchString(r.ID):
			bad(name, "id %q is not 1-32 of a-z, 0-9 and _ (it is also the command /%s)", r.ID, r.ID)
		case seen[r.ID]:
			bad(name, "id %q is used twice", r.ID)
		}
		seen[r.ID] = true
		effects = append(effects, effectOf(r, send, func(format string, args ...any) { bad(name, format, args...) }))
	}
	return effects
}

// decodeEffect decodes the i-th effect strictly (an unknown field is a
// mistake) and names it for the problems: by its id when it has one.
func decodeEffect(item json.RawMessage, where string, i int, bad func(name, format string, args ...any)) (effectJSON, string) {
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(item, &id)
	name := fmt.Sprintf("%s[%d]", where, i)
	if id.ID != "" {
		name = fmt.Sprintf("%s %q", where, id.ID)
	}
	var r effectJSON
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		bad(name, "%s", jsonError(err))
		r = effectJSON{ID: id.ID}
	}
	return r, name
}

// effectOf checks one decoded effect and turns it into the core's.
func effectOf(r effectJSON, send pipeline.SendAs, bad func(format string, args ...any)) pipeline.Effect {
	e := pipeline.Effect{ID: r.ID, Model: r.Model, ImageField: r.ImageField, PromptField: r.PromptField, Send: send,
		Progress: r.Progress, Price: unpriced}
	var err error
	if e.Title, err = parseText(r.Title); err != nil {
		bad("title: %v", err)
	} else if e.Title == nil {
		bad("no \"title\": the button's words (a string, or {\"en\": ..., \"ru\": ...})")
	}
	if e.Description, err = parseText(r.Description); err != nil {
		bad("description: %v", err)
	}
	if r.Model == "" {
		bad("no \"model\" (owner/name or owner/name:<version>, as REPLICATE_MODEL)")
	} else if m, err := replicate.ParseModel(r.Model); err != nil {
		bad("model: %v", err)
	} else {
		e.Model = m.String()
	}
	if len(r.Input) > 0 && string(r.Input) != "null" {
		if err := json.Unmarshal(r.Input, &e.Input); err != nil || e.Input == nil {
			bad("input is not a JSON object (e.g. {\"scale\": 2})")
		}
	}
	if e.ImageField == "" {
		e.ImageField = "image"
	}
	if !fieldRe.MatchString(e.ImageField) {
		bad("image_field %q is not an input name (letters, digits, _)", e.ImageField)
	}
	if e.PromptField != "" && !fieldRe.MatchString(e.PromptField) {
		bad("prompt_field %q is not an input name (letters, digits, _)", e.PromptField)
	}
	if r.Send != "" {
		if e.Send, err = parseSend(r.Send); err != nil {
			bad("send: %v", err)
		}
	}
	effectPrompt(&e, r, bad)
	effectMoney(&e, r, bad)
	return e
}

// effectPrompt: whether the effect asks for a prompt, and with what words.
func effectPrompt(e *pipeline.Effect, r effectJSON, bad func(format string, args ...any)) {
	switch r.Prompt {
	case "", "optional":
	case "required":
		e.PromptRequired = true
		if e.PromptField == "" {
			bad("prompt \"required\" needs a prompt_field: the model input that receives it")
		}
	default:
		bad("prompt: %q is not \"required\" or \"optional\"", r.Prompt)
	}
	var err error
	if e.PromptHint, err = parseText(r.PromptHint); err != nil {
		bad("prompt_hint: %v", err)
	}
}

// effectMoney: what the effect charges (Stars) and what it costs (USD).
func effectMoney(e *pipeline.Effect, r effectJSON, bad func(format string, args ...any)) {
	if r.Price != nil {
		if *r.Price < 0 {
			bad("price: %d is not a whole number of Stars >= 0 (0: a free effect)", *r.Price)
		} else {
			e.Price = *r.Price
		}
	}
	if r.Cost != nil && r.CostPerSecond != nil {
		bad("has both cost and cost_per_second: give the one Replicate bills this model by")
	}
	if r.Cost != nil && *r.Cost < 0 {
		bad("cost: %v is not an amount of USD >= 0", *r.Cost)
	}
	if r.CostPerSecond != nil && *r.CostPerSecond < 0 {
		bad("cost_per_second: %v is not an amount of USD >= 0", *r.CostPerSecond)
	}
	if r.Cost != nil {
		e.Cost = *r.Cost
	}
	if r.CostPerSecond != nil {
		e.CostPerSecond = *r.CostPerSecond
	}
}

// parseText reads a title, description or BOT_ABOUT: a string, or an
// object of strings by language code. Nil means absent.
func parseText(raw json.RawMessage) (pipeline.Text, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("is empty")
		}
		return pipeline.Text{"en": s}, nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("neither a string nor an object of strings by language (e.g. {\"en\": \"Upscale\", \"ru\": \"Увеличить\"})")
	}
	t := pipeline.Text{}
	for lang, s := range m {
		if !languageRe.MatchString(lang) {
			return nil, fmt.Errorf("%q is not a language code (en, ru, ...)", lang)
		}
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("the %q text is empty", lang)
		}
		t[lang] = s
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("has no text in any language")
	}
	return t, nil
}

// parseSend reads RESULT_AS or an effect's send.
func parseSend(s string) (pipeline.SendAs, error) {
	switch v := pipeline.SendAs(strings.ToLower(strings.TrimSpace(s))); v {
	case pipeline.AsPhoto, pipeline.AsDocument, pipeline.AsBoth:
		return v, nil
	}
	return "", fmt.Errorf("%q is not photo, document or both", s)
}

// jsonError says where a JSON document went wrong, without quoting it.
func jsonError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s must be a %s", typ.Field, typ.Type)
		}
		return fmt.Sprintf("a %s where a %s belongs", typ.Value, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}
