package replicate_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/replicate"
)

const fuzzWebhookKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// webhookMAC is the signature of id.ts.body, computed independently of the
// verifier (Standard Webhooks: HMAC-SHA256, base64).
func webhookMAC(id string, ts int64, body []byte) string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fuzzWebhookKey, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// carriesMAC reports whether a webhook-signature header holds the right MAC:
// space-separated "version,signature" entries, one of them v1 with it.
func carriesMAC(header, want string) bool {
	for _, entry := range strings.Split(header, " ") {
		parts := strings.Split(entry, ",")
		if len(parts) >= 2 && parts[0] == "v1" && parts[1] == want {
			return true
		}
	}
	return false
}

// FuzzVerify checks Replicate webhook verification with arbitrary bodies,
// ids, timestamps and signature headers. It must never panic; it accepts
// only a header that carries the body's correct signature with a
// timestamp within 5 minutes; a correct signature within the window is
// always accepted; every refusal is ErrBadSignature.
func FuzzVerify(f *testing.F) {
	v, err := replicate.NewVerifier(fuzzWebhookKey, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, id string, offset int64, signature string, addGood bool) {
		offset %= 1 << 40 // seconds from now: far enough either way
		now := time.Now().Unix()
		ts := now + offset
		good := webhookMAC(id, ts, body)
		if addGood {
			signature = strings.TrimSpace(signature + " v1," + good)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", signature)
		err := v.Verify(context.Background(), body, h)
		if err != nil && !errors.Is(err, replicate.ErrBadSignature) {
			t.Fatalf("refusal %v is not ErrBadSignature", err)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(fuzzWebhookKey, "whsec_")) {
			t.Fatalf("error reveals the key: %v", err)
		}
		if err == nil {
			if !carriesMAC(signature, good) {
				t.Fatalf("accepted signature %q for id %q, ts %d, body %q: it does not carry the body's signature", signature, id, ts, body)
			}
			if offset > 5*60+10 || offset < -5*60-10 {
				t.Fatalf("accepted a timestamp %d s away from now", offset)
			}
		}
		if addGood && id != "" && offset > -5*60+10 && offset < 5*60-10 && err != nil {
			t.Fatalf("refused a correctly signed webhook (id %q, %d s away): %v", id, offset, err)
		}
	})
}

// FuzzValidID checks that an accepted prediction id is 1 to 64 characters of
// [a-z0-9] only (so it is safe in a key), and that every such id is accepted.
func FuzzValidID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		plain := len(id) >= 1 && len(id) <= 64
		for i := 0; i < len(id); i++ {
			if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				plain = false
			}
		}
		if got := replicate.ValidID(id); got != plain {
			t.Fatalf("ValidID(%q) = %v, want %v", id, got, plain)
		}
	})
}
