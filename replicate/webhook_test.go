package replicate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// sign follows Replicate's documentation, independently of the verifier.
func sign(secret, id string, ts int64, body string) string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", fmt.Sprint(ts))
	h.Set("webhook-signature", sig)
	return h
}

func TestVerify(t *testing.T) {
	v, err := NewVerifier(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"abc","status":"succeeded"}`
	now := time.Now().Unix()
	good := sign(testSecret, "msg_1", now, body)
	cases := []struct {
		name string
		body string
		h    http.Header
		ok   bool
	}{
		{"good", body, headers("msg_1", now, good), true},
		{"one of several signatures", body, headers("msg_1", now, "v1,Zm9v "+good), true},
		{"4 minutes old", body, headers("msg_1", now-240, sign(testSecret, "msg_1", now-240, body)), true},
		{"altered body", body + " ", headers("msg_1", now, good), false},
		{"other id", body, headers("msg_2", now, good), false},
		{"wrong secret", body, headers("msg_1", now, sign("whsec_b3RoZXI=", "msg_1", now, body)), false},
		{"6 minutes old", body, headers("msg_1", now-360, sign(testSecret, "msg_1", now-360, body)), false},
		{"6 minutes ahead", body, headers("msg_1", now+360, sign(testSecret, "msg_1", now+360, body)), false},
		{"no headers", body, http.Header{}, false},
		{"garbage signature", body, headers("msg_1", now, "v1"), false},
		{"bad timestamp", body, http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {"soon"}, "Webhook-Signature": {good}}, false},
	}
	for _, tc := range cases {
		err := v.Verify(context.Background(), []byte(tc.body), tc.h)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err %v is not ErrBadSignature", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "MfKQ9r8") {
			t.Errorf("%s: error reveals the secret: %v", tc.name, err)
		}
	}
}

func TestVerifierFetchesTheSecretOnceAndRetriesFailures(t *testing.T) {
	var calls atomic.Int32
	c, _, _ := api(t,
		problem(500, "oops"), problem(500, "oops"), problem(500, "oops"),
		func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			fmt.Fprintf(w, `{"key":%q}`, testSecret)
		})
	v, err := NewVerifier("", c)
	if err != nil {
		t.Fatal(err)
	}
	body := `{}`
	now := time.Now().Unix()
	h := headers("msg_1", now, sign(testSecret, "msg_1", now, body))
	err = v.Verify(context.Background(), []byte(body), h)
	if err == nil || errors.Is(err, ErrBadSignature) {
		t.Fatalf("first verify with the secret unavailable: %v, want a transient error", err)
	}
	for i := 0; i < 3; i++ {
		if err := v.Verify(context.Background(), []byte(body), h); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("secret fetched %d times after success, want 1", calls.Load())
	}
}

func TestNewVerifierRejectsMalformedSecrets(t *testing.T) {
	for _, s := range []string{"MfKQ9r8", "whsec_!!!"} {
		if _, err := NewVerifier(s, nil); err == nil {
			t.Errorf("NewVerifier(%q) accepted it", s)
		}
	}
}
