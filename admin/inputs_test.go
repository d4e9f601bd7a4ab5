package admin_test

import (
	"strings"
	"testing"

	"github.com/photobot/photobot/internal/testenv"
)

// doctor holds each effect to its model's schema: a required prompt needs
// an input to go to, and every input the model requires must be given.
func TestDoctorChecksPromptsAndRequiredInputs(t *testing.T) {
	const effect = `[{"id":"restyle","title":"Restyle","model":"acme/kontext","image_field":"input_image",%s}]`
	cases := []struct {
		name, fields string
		require      []string
		want         string
	}{
		{"required prompt without its input", `"prompt_field":"text","prompt":"required"`, nil,
			`FAIL  model: the effect asks users for a prompt (prompt: required), but acme/kontext has no input "text" to take it; its inputs: input_image, output_format, prompt`},
		{"a required input not given", `"input":{"output_format":"png"}`, []string{"prompt"},
			`FAIL  model: acme/kontext requires "prompt", which the effect does not give`},
		{"a required prompt only a caption gives", `"prompt_field":"prompt"`, []string{"prompt"},
			`FAIL  model: acme/kontext requires "prompt", which only a photo's caption gives`},
		{"given", `"prompt_field":"prompt","prompt":"required"`, []string{"prompt", "output_format"},
			`FAIL  model: acme/kontext requires "output_format", which the effect does not give`},
		{"all given", `"prompt_field":"prompt","prompt":"required","input":{"output_format":"png"}`, []string{"prompt", "output_format"},
			`OK    model: acme/kontext takes "input_image"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t, func(v map[string]string) {
				delete(v, "REPLICATE_MODEL")
				delete(v, "REPLICATE_INPUT")
				v["EFFECTS"] = strings.Replace(effect, "%s", tc.fields, 1)
			})
			e.RP.SetModel("acme", "kontext", "", "input_image", "prompt", "output_format")
			e.RP.RequireInputs("acme", "kontext", tc.require...)
			_, out := doctor(e)
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
