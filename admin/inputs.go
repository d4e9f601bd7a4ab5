package admin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
)

// checkInputs holds an effect to its model's published inputs: the image
// and prompt inputs it names are inputs of the model, and every input the
// model requires is given (by the photo, the prompt, or the effect's
// input). single: the effect is REPLICATE_MODEL's, whose variables the
// hints name. A model whose schema lists no inputs is not checked.
func checkInputs(r *report, name string, m replicate.Model, e pipeline.Effect, info *replicate.ModelInfo, single bool) bool {
	names := info.InputNames()
	if len(names) == 0 {
		return true
	}
	slices.Sort(names)
	imageVar, promptVar, inputVar := "the effect's image_field", "the effect's prompt_field", "the effect's input"
	if single {
		imageVar, promptVar, inputVar = "REPLICATE_IMAGE_FIELD", "REPLICATE_PROMPT_FIELD", "REPLICATE_INPUT"
	}
	inputs := strings.Join(names, ", ")
	switch {
	case !slices.Contains(names, e.ImageField):
		r.fail(name, fmt.Sprintf("%s has no input %q; its inputs: %s", m.Short(), e.ImageField, inputs),
			"set "+imageVar+" to the model's image input")
		return false
	case e.PromptRequired && !slices.Contains(names, e.PromptField):
		r.fail(name, fmt.Sprintf("the effect asks users for a prompt (prompt: required), but %s has no input %q to take it; its inputs: %s",
			m.Short(), e.PromptField, inputs), "set "+promptVar+" to the model's prompt input")
		return false
	case e.PromptField != "" && !slices.Contains(names, e.PromptField):
		r.fail(name, fmt.Sprintf("%s has no input %q for the caption; its inputs: %s", m.Short(), e.PromptField, inputs),
			"set the prompt field ("+promptVar+") to one of them, or leave it unset")
		return false
	}
	return checkRequired(r, name, m, e, info.RequiredInputs(), inputVar)
}

// checkRequired: every input the model requires is given. A required
// prompt that only a caption would give fails too: a photo without one
// would be refused by the model.
func checkRequired(r *report, name string, m replicate.Model, e pipeline.Effect, required []string, inputVar string) bool {
	var missing []string
	for _, in := range required {
		_, given := e.Input[in]
		if given || in == e.ImageField || in == e.PromptField && e.PromptRequired {
			continue
		}
		missing = append(missing, in)
	}
	switch {
	case len(missing) == 0:
		return true
	case len(missing) == 1 && missing[0] == e.PromptField:
		r.fail(name, fmt.Sprintf("%s requires %q, which only a photo's caption gives: a photo without one would be refused", m.Short(), e.PromptField),
			`set the effect's "prompt": "required" (the bot then asks for it), or give it a fixed value in `+inputVar)
		return false
	}
	slices.Sort(missing)
	r.fail(name, fmt.Sprintf("%s requires %s, which the effect does not give", m.Short(), quoted(missing)),
		"give them in "+inputVar+" (or map the photo or the prompt to them)")
	return false
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
