package app

import (
	"testing"

	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/telegram"
)

// The core gets the Telegram client as its Payments only when something
// costs Stars; otherwise nil, the free bot of before.
func TestPaymentsAreWiredOnlyWhenSomethingCostsStars(t *testing.T) {
	tg, err := telegram.New("", "1:x", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		on   bool
	}{
		{"no price", nil, false},
		{"PRICE_STARS=0", map[string]string{"PRICE_STARS": "0"}, false},
		{"a price on an effect alone", map[string]string{"REPLICATE_MODEL": "",
			"EFFECTS": `[{"id":"up","title":"Up","model":"acme/up","image_field":"image","price":5}]`}, false},
		{"PRICE_STARS=10", map[string]string{"PRICE_STARS": "10"}, true},
	} {
		vars := map[string]string{"TG_BOT_TOKEN": "1:x", "REPLICATE_API_TOKEN": "r8_x", "REPLICATE_MODEL": "acme/up",
			"DATA_DIR": t.TempDir()}
		for k, v := range tc.vars {
			vars[k] = v
		}
		cfg, err := config.Load(func(k string) string { return vars[k] }, config.Run)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p := payments(cfg, tg)
		if on := p != nil; on != tc.on {
			t.Errorf("%s: payments wired %v, want %v", tc.name, on, tc.on)
		}
		if tc.on && p != pipeline.Payments(tg) {
			t.Errorf("%s: payments go through %T, not the bot's Telegram client", tc.name, p)
		}
	}
}
