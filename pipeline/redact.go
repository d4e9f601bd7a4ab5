package pipeline

import (
	"regexp"
	"strings"
)

// A model's error text may quote its input, and the input is a presigned
// URL: a credential for as long as it lives. What goes to the log keeps
// a URL's scheme, host and path (enough to see which file it was) and
// loses its query and fragment; an X-Amz-* parameter the text carries
// outside a URL (or percent-encoded) loses its value.
var (
	urlQuery = regexp.MustCompile(`(?i)\b(https?://[^\s?#"'<>]*)[?#][^\s"'<>]*`)
	amzParam = regexp.MustCompile(`(?i)\bX-Amz-[A-Za-z-]+(=|%3D)[^\s&"'<>]*`)
)

// redactURLs is s with every URL's query and every X-Amz-* value cut.
func redactURLs(s string) string {
	s = urlQuery.ReplaceAllString(s, "$1?<redacted>")
	return amzParam.ReplaceAllStringFunc(s, func(p string) string {
		i := strings.IndexAny(p, "=%")
		return p[:i] + "=<redacted>"
	})
}
