package replicate_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/replicate"
)

// BenchmarkVerify checks the signature of a completed prediction as
// Replicate posts it (testdata/replicate/prediction_succeeded_string.json),
// what the Replicate webhook does first with every request.
func BenchmarkVerify(b *testing.B) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body, err := os.ReadFile("../testdata/replicate/prediction_succeeded_string.json")
	if err != nil {
		b.Fatal(err)
	}
	v, err := replicate.NewVerifier(secret, nil)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	id, ts := "msg_2mBmKHkOCsLJFPvtfDzJ4RKvNEq", strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", ts)
	h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	ctx := context.Background()
	if err := v.Verify(ctx, body, h); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := v.Verify(ctx, body, h); err != nil {
			b.Fatal(err)
		}
	}
}
