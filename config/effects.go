package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
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
	ID          string          `json:"id"`
	Title       json.RawMessage `json:"title"`
	Description json.RawMessage `json:"description"`
	Model       string          `json:"model"`
	Input       json.RawMessage `json:"input"`
	ImageField  string          `json:"image_field"`
	PromptField string          `json:"prompt_field"`
	Send        string          `json:"send"`
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
	raw := make([]effectJSON, len(list))
	names := make([]string, len(list))
	for i, item := range list {
		var id struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(item, &id)
		names[i] = fmt.Sprintf("%s[%d]", where, i)
		if id.ID != "" {
			names[i] = fmt.Sprintf("%s %q", where, id.ID)
		}
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw[i]); err != nil {
			bad(names[i], "%s", jsonError(err))
			raw[i] = effectJSON{ID: id.ID}
		}
	}
	var effects []pipeline.Effect
	seen := map[string]bool{}
	for i, r := range raw {
		name := names[i]
		e := pipeline.Effect{ID: r.ID, Model: r.Model, ImageField: r.ImageField, PromptField: r.PromptField, Send: send}
		switch {
		case r.ID == "":
			bad(name, "no \"id\" (a-z, 0-9 and _, up to 32: it is also the command /id)")
		case !effectIDRe.MatchString(r.ID):
			bad(name, "id %q is not 1-32 of a-z, 0-9 and _ (it is also the command /%s)", r.ID, r.ID)
		case seen[r.ID]:
			bad(name, "id %q is used twice", r.ID)
		}
		seen[r.ID] = true
		var err error
		if e.Title, err = parseText(r.Title); err != nil {
			bad(name, "title: %v", err)
		} else if e.Title == nil {
			bad(name, "no \"title\": the button's words (a string, or {\"en\": ..., \"ru\": ...})")
		}
		if e.Description, err = parseText(r.Description); err != nil {
			bad(name, "description: %v", err)
		}
		if r.Model == "" {
			bad(name, "no \"model\" (owner/name or owner/name:<version>, as REPLICATE_MODEL)")
		} else if m, err := replicate.ParseModel(r.Model); err != nil {
			bad(name, "model: %v", err)
		} else {
			e.Model = m.String()
		}
		if len(r.Input) > 0 && string(r.Input) != "null" {
			if err := json.Unmarshal(r.Input, &e.Input); err != nil || e.Input == nil {
				bad(name, "input is not a JSON object (e.g. {\"scale\": 2})")
			}
		}
		if e.ImageField == "" {
			e.ImageField = "image"
		}
		if !fieldRe.MatchString(e.ImageField) {
			bad(name, "image_field %q is not an input name (letters, digits, _)", e.ImageField)
		}
		if e.PromptField != "" && !fieldRe.MatchString(e.PromptField) {
			bad(name, "prompt_field %q is not an input name (letters, digits, _)", e.PromptField)
		}
		if r.Send != "" {
			if e.Send, err = parseSend(r.Send); err != nil {
				bad(name, "send: %v", err)
			}
		}
		effects = append(effects, e)
	}
	return effects
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
