package config

import (
	"path/filepath"
	"testing"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/pipeline"
)

// examples/effects.json, the catalog the README's quickstart points to,
// loads through EFFECTS_FILE with no problem, as the core reads it.
func TestExampleEffectsLoad(t *testing.T) {
	e := serveEnv()
	delete(e, "REPLICATE_MODEL")
	e["EFFECTS_FILE"] = filepath.Join("..", "examples", "effects.json")
	c, err := Load(env(e), Serve)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]pipeline.Effect{}
	for _, eff := range c.Effects {
		byID[eff.ID] = eff
	}
	if len(c.Effects) < 4 || len(c.Effects) > 6 || len(byID) != len(c.Effects) {
		t.Fatalf("%d effects: %+v", len(c.Effects), c.Effects)
	}
	restyle := byID["restyle"]
	if restyle.Model != "black-forest-labs/flux-kontext-pro" || restyle.ImageField != "input_image" || restyle.PromptField != "prompt" ||
		!restyle.PromptRequired || !restyle.Progress || restyle.PromptHint.In("ru") == "" || restyle.PromptHint.In("en") == "" {
		t.Errorf("restyle %+v", restyle)
	}
	if nobg := byID["nobg"]; nobg.Send != pipeline.AsDocument || nobg.Input["format"] != "png" {
		t.Errorf("nobg %+v", nobg)
	}
	if up := byID["upscale"]; up.Input["scale"] != float64(4) || up.ImageField != "image" {
		t.Errorf("upscale %+v", up)
	}
	if r := byID["restore"]; r.Input["codeformer_fidelity"] != 0.7 || r.Input["upscale"] != float64(2) {
		t.Errorf("restore %+v", r)
	}
	for _, eff := range c.Effects {
		if eff.Title.In("en") == "" || eff.Title.In("ru") == "" || eff.Description.In("ru") == "" {
			t.Errorf("%s has no title or description in both languages", eff.ID)
		}
	}
	store := inmem.NewStore()
	if _, err := pipeline.New(pipeline.Deps{Store: store, Images: store, Chat: inmem.NewChat(), Models: &inmem.Models{}},
		pipeline.Options{Effects: c.Effects}); err != nil {
		t.Errorf("the core refuses the catalog: %v", err)
	}
}
