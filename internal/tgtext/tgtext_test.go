package tgtext

import (
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	emoji := strings.Repeat("😀", 3000) // 6000 units, 3000 runes
	got := Clip(emoji, 4096)
	if Len(got) > 4096 || !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("Clip(3000 emoji, 4096) = %d units, ends %q", Len(got), got[len(got)-8:])
	}
	if got := Clip("привет", 6); got != "привет" {
		t.Errorf("a text that fits changed: %q", got)
	}
	if got := Clip("a😀b", 3); got != "a…" {
		t.Errorf(`Clip("a😀b", 3) = %q, want "a…" (never half a surrogate pair)`, got)
	}
}
