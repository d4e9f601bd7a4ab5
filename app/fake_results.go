//go:build photobot_fake_results

package app

import (
	"os"
	"strings"
)

// Built only into the bench's photobot (go build -tags
// photobot_fake_results), never into what ships: its fake Replicates
// serve results over http on loopback, which photobot refuses. Their
// origins come in PHOTOBOT_FAKE_RESULT_ORIGINS (comma-separated).
func init() {
	fakeResultOrigins = strings.Split(os.Getenv("PHOTOBOT_FAKE_RESULT_ORIGINS"), ",")
}
