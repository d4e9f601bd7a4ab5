package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// load is Load(Serve) of serveEnv with changes; "" deletes a variable.
func load(t *testing.T, change map[string]string) (*Config, error) {
	t.Helper()
	e := serveEnv()
	for k, v := range change {
		if v == "" {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	return Load(env(e), Serve)
}

// mustSay fails unless err names every one of want.
func mustSay(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%s", w, err)
		}
	}
}

// The single model is never shown to users by its repository name.
func TestReplicateTitle(t *testing.T) {
	for value, want := range map[string][2]string{
		"":        {"Enhance", "Улучшить"},
		"Sharpen": {"Sharpen", "Sharpen"},
		`{"en":"Restore","ru":"Восстановить"}`: {"Restore", "Восстановить"},
	} {
		c, err := load(t, map[string]string{"REPLICATE_TITLE": value})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Effects[0].Title; got.In("en") != want[0] || got.In("ru") != want[1] {
			t.Errorf("REPLICATE_TITLE=%q: title %v, want %v", value, got, want)
		}
		if strings.Contains(c.Effects[0].Title.In("en"), "real-esrgan") {
			t.Errorf("the title shows the repository: %v", c.Effects[0].Title)
		}
	}
	_, err := load(t, map[string]string{"REPLICATE_TITLE": `{"english":"x"}`})
	mustSay(t, err, `REPLICATE_TITLE: "english" is not a language code`)
	e := effectsEnv(twoEffects)
	e["REPLICATE_TITLE"] = "Up"
	_, err = Load(env(e), Serve)
	mustSay(t, err, "REPLICATE_TITLE: is set together with EFFECTS")
}

func TestPaymentsOffByDefault(t *testing.T) {
	// A price on an effect while payments are off is no mistake, and
	// charges nothing.
	c, err := Load(env(effectsEnv(`[{"id":"a","title":"A","model":"o/n","price":5}]`)), Serve)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Payments
	if p.PriceStars != 0 || p.FreePerDay != 0 || c.Effects[0].Price != 0 || p.PaySupport != nil || p.Terms != nil {
		t.Errorf("payments %+v, effect price %d; want all off", p, c.Effects[0].Price)
	}
	if !slices.Equal(p.StarPacks, []int{50, 150, 500}) {
		t.Errorf("packs %v", p.StarPacks)
	}
}

func TestPaymentsOn(t *testing.T) {
	e := effectsEnv(`[{"id":"a","title":"A","model":"o/n"},{"id":"free","title":"F","model":"o/m","price":0},{"id":"dear","title":"D","model":"o/k","price":25}]`)
	e["PRICE_STARS"] = "10"
	e["STAR_PACKS"] = "100, 300"
	e["PAY_SUPPORT"] = "Write to @owner"
	e["TERMS"] = `{"en":"Terms","ru":"Условия"}`
	c, err := Load(env(e), Serve)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Payments
	if p.PriceStars != 10 || p.FreePerDay != 1 || !slices.Equal(p.StarPacks, []int{100, 300}) ||
		p.PaySupport.In("ru") != "Write to @owner" || p.Terms.In("ru") != "Условия" {
		t.Errorf("payments %+v", p)
	}
	var prices []int
	for _, ef := range c.Effects {
		prices = append(prices, ef.Price)
	}
	if !slices.Equal(prices, []int{10, 0, 25}) {
		t.Errorf("prices %v, want [10 0 25]: PRICE_STARS, a free effect, the effect's own", prices)
	}
	// The single model pays PRICE_STARS; FREE_PER_DAY may be 0.
	c, err = load(t, map[string]string{"PRICE_STARS": "3", "FREE_PER_DAY": "0"})
	if err != nil || c.Effects[0].Price != 3 || c.Payments.FreePerDay != 0 {
		t.Errorf("single model: %+v, %v", c.Effects, err)
	}
}

func TestPaymentMistakesAllAtOnce(t *testing.T) {
	e := effectsEnv(`[{"id":"a","title":"A","model":"o/n","price":-2}]`)
	for k, v := range map[string]string{"PRICE_STARS": "-1", "FREE_PER_DAY": "one", "STAR_PACKS": "50,0,x",
		"PAY_SUPPORT": `{"english":"x"}`, "TERMS": `{"en":""}`} {
		e[k] = v
	}
	_, err := Load(env(e), Serve)
	mustSay(t, err, `PRICE_STARS: "-1" is not a whole number >= 0`, `FREE_PER_DAY: "one" is not a whole number`,
		`STAR_PACKS: "0" is not a whole number of Stars >= 1`, `STAR_PACKS: "x" is not`,
		`PAY_SUPPORT: "english" is not a language code`, `TERMS: the "en" text is empty`,
		`EFFECTS "a": price: -2 is not a whole number of Stars >= 0`)
}

func TestCosts(t *testing.T) {
	c, err := Load(env(effectsEnv(`[{"id":"a","title":"A","model":"o/n","cost":0.0023},{"id":"b","title":"B","model":"o/m","cost_per_second":0.000225}]`)), Serve)
	if err != nil {
		t.Fatal(err)
	}
	if c.Effects[0].Cost != 0.0023 || c.Effects[0].CostPerSecond != 0 || c.Effects[1].CostPerSecond != 0.000225 {
		t.Errorf("effects %+v", c.Effects)
	}
	if c, err := load(t, map[string]string{"REPLICATE_COST_PER_SECOND": "0.0014"}); err != nil || c.Effects[0].CostPerSecond != 0.0014 {
		t.Errorf("single model: %+v, %v", c.Effects, err)
	}
	_, err = Load(env(effectsEnv(`[{"id":"a","title":"A","model":"o/n","cost":1,"cost_per_second":0.1},{"id":"b","title":"B","model":"o/m","cost":-1},{"id":"c","title":"C","model":"o/k","cost_per_second":"cheap"}]`)), Serve)
	mustSay(t, err, `EFFECTS "a": has both cost and cost_per_second`, `EFFECTS "b": cost: -1 is not an amount of USD >= 0`,
		`EFFECTS "c": cost_per_second must be a float64`)
	_, err = load(t, map[string]string{"REPLICATE_COST_PER_SECOND": "NaN"})
	mustSay(t, err, `REPLICATE_COST_PER_SECOND: "NaN" is not an amount of USD >= 0`)
}

func TestPrompts(t *testing.T) {
	c, err := Load(env(effectsEnv(`[{"id":"style","title":"Style","model":"o/n","prompt_field":"prompt","prompt":"required",
		"prompt_hint":{"en":"Describe the style","ru":"Опишите стиль"},"progress":true},{"id":"up","title":"Up","model":"o/m"}]`)), Serve)
	if err != nil {
		t.Fatal(err)
	}
	s, up := c.Effects[0], c.Effects[1]
	if !s.PromptRequired || s.PromptHint.In("ru") != "Опишите стиль" || !s.Progress {
		t.Errorf("style = %+v", s)
	}
	if up.PromptRequired || up.PromptHint != nil || up.Progress {
		t.Errorf("up = %+v: want the defaults (optional, no hint, no progress)", up)
	}
	_, err = Load(env(effectsEnv(`[{"id":"a","title":"A","model":"o/n","prompt":"required"},
		{"id":"b","title":"B","model":"o/n","prompt_field":"p","prompt":"always","prompt_hint":{"xx1":"?"}},
		{"id":"c","title":"C","model":"o/n","progress":"yes"}]`)), Serve)
	mustSay(t, err, `EFFECTS "a": prompt "required" needs a prompt_field`, `EFFECTS "b": prompt: "always" is not "required" or "optional"`,
		`EFFECTS "b": prompt_hint: "xx1" is not a language code`, `EFFECTS "c": progress must be a bool`)
}

func TestResultHosts(t *testing.T) {
	c, err := load(t, nil)
	if err != nil || !slices.Equal(c.ResultHosts, []string{"replicate.delivery"}) {
		t.Errorf("default: %v, %v", c.ResultHosts, err)
	}
	c, err = load(t, map[string]string{"RESULT_HOSTS": "replicate.delivery, .Files.Example.com"})
	if err != nil || !slices.Equal(c.ResultHosts, []string{"replicate.delivery", "files.example.com"}) {
		t.Errorf("list: %v, %v", c.ResultHosts, err)
	}
	_, err = load(t, map[string]string{"RESULT_HOSTS": "https://x.com/a,localhost,a b.com"})
	mustSay(t, err, `RESULT_HOSTS: "https://x.com/a" is not a host name`, `RESULT_HOSTS: "localhost" is not`, `RESULT_HOSTS: "a b.com" is not`)
}

// A missing variable is set; a malformed one is corrected: each problem
// says which, and its hint fits.
func TestProblemsTellMissingFromMalformed(t *testing.T) {
	_, err := Load(env(effectsEnv(`[{"id":"a","title":"A","model":"o/n"},{"id":"a","title":"B","model":"o/m"}]`)), Serve)
	mustSay(t, err, `id "a" is used twice`)
	e := map[string]string{"PREDICTION_DEADLINE": "soon", "EFFECTS": `[{"id":"a","title":"A","model":"o/n"},{"id":"a","title":"B","model":"o/m"}]`}
	_, err = Load(env(e), Run)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	where := "in the environment photobot runs with"
	hints := map[string]string{}
	for _, p := range ce.Problems {
		hints[p.Var] = p.Hint(where)
	}
	for v, want := range map[string]string{
		"TG_BOT_TOKEN":        "set it " + where,
		"PREDICTION_DEADLINE": "correct the value of PREDICTION_DEADLINE",
		`EFFECTS "a"`:         "correct the effects",
	} {
		if !strings.HasPrefix(hints[v], want) {
			t.Errorf("%s: hint %q, want %q", v, hints[v], want)
		}
	}
	if slices.Contains(ce.Missing(), "PREDICTION_DEADLINE") || !slices.Contains(ce.Missing(), "TG_BOT_TOKEN") {
		t.Errorf("Missing() = %v", ce.Missing())
	}
}

func TestAccessEntries(t *testing.T) {
	c, err := load(t, map[string]string{"ALLOWED_USERS": "12345, @anna", "ADMIN_USERS": "@boss,7"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AllowedList, []string{"12345", "@anna"}) || !slices.Equal(c.AdminList, []string{"@boss", "7"}) {
		t.Errorf("allowed %v, admins %v", c.AllowedList, c.AdminList)
	}
}
