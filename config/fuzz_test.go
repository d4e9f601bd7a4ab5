package config_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/photobot/photobot/config"
)

// secretVars must never be echoed in a configuration error.
var secretVars = []string{"TG_BOT_TOKEN", "REPLICATE_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "TG_WEBHOOK_SECRET"}

// parseEnv reads NAME=value entries separated by NUL bytes (so that values
// may hold new lines); a later entry wins.
func parseEnv(s string) map[string]string {
	env := map[string]string{}
	for _, entry := range strings.Split(s, "\x00") {
		if name, value, ok := strings.Cut(entry, "="); ok {
			env[name] = value
		}
	}
	return env
}

// rot changes every letter and digit of s into another of its class, so
// that a valid secret stays valid (and an invalid one invalid) but reads
// differently.
func rot(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return 'a' + (r-'a'+13)%26
		case r >= 'A' && r <= 'Z':
			return 'A' + (r-'A'+13)%26
		case r >= '0' && r <= '9':
			return '0' + (r-'0'+5)%10
		}
		return r
	}, s)
}

// shows reports whether text holds s as is or as %q would print it.
func shows(text, s string) bool {
	q := strconv.Quote(s)
	return strings.Contains(text, s) || strings.Contains(text, q[1:len(q)-1])
}

// FuzzLoad gives the variables arbitrary values (NAME=value entries, NUL
// separated), in every mode. Load must never panic, and its error must
// never show the value of TG_BOT_TOKEN, REPLICATE_API_TOKEN,
// AWS_SECRET_ACCESS_KEY or TG_WEBHOOK_SECRET. A secret that is in the error
// only because the error's own words or another variable's value hold it
// is no leak: the check changes the secret (keeping its form) and looks
// for the change in the error.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, mode uint8, entries string) {
		env := parseEnv(entries)
		m := config.Mode(mode % 4)
		load := func(env map[string]string) error {
			_, err := config.Load(func(k string) string { return env[k] }, m)
			return err
		}
		err := load(env)
		if err == nil {
			return
		}
		text := err.Error()
	secrets:
		for _, name := range secretVars {
			s := strings.TrimSpace(env[name])
			if len(s) < 6 || rot(s) == s || !shows(text, s) {
				continue
			}
			for other, v := range env {
				if other != name && (strings.Contains(v, s) || strings.Contains(v, rot(s))) {
					continue secrets
				}
			}
			changed := map[string]string{}
			for k, v := range env {
				changed[k] = v
			}
			changed[name] = rot(env[name])
			if err2 := load(changed); err2 != nil && shows(err2.Error(), rot(s)) {
				t.Fatalf("the error shows the value of %s (%q):\n%s", name, s, text)
			}
		}
	})
}
