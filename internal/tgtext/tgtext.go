// Package tgtext measures and cuts text as the Bot API does: in UTF-16
// code units (an emoji beyond the Basic Multilingual Plane is two), so a
// text Telegram finds too long ("message is too long") is never sent.
package tgtext

import "unicode/utf16"

// Len is the length of s in UTF-16 code units.
func Len(s string) int {
	n := 0
	for _, r := range s {
		n += units(r)
	}
	return n
}

// Clip keeps the start of s within n UTF-16 code units, cutting between
// runes (so never inside a surrogate pair) and ending a cut text with "…".
func Clip(s string, n int) string {
	if Len(s) <= n {
		return s
	}
	used := 0
	for i, r := range s {
		if used += units(r); used > n-1 {
			return s[:i] + "…"
		}
	}
	return s
}

func units(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1 // an invalid rune is sent as U+FFFD, one unit
}
