package replicate_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/replicate"
)

// The account's failures, as the fake answers them with Replicate's
// status codes and bodies, reach the core sorted: each is a configuration
// error, and the ones that alert the admins say which.
func TestAccountErrorsAreSorted(t *testing.T) {
	rp := fake.NewReplicate(t, "r8_good")
	ok := replicate.New(rp.URL, "r8_good", http.DefaultClient)
	model := fake.DefaultModelOwner + "/" + fake.DefaultModelName
	create := func(c *replicate.Client, model string, input map[string]any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Create(ctx, &pipeline.PredictionRequest{Model: model, Input: input})
		return err
	}
	image := map[string]any{"image": "https://example.com/a.png"}
	all := []error{pipeline.ErrNoCredit, pipeline.ErrTokenRefused, pipeline.ErrModelGone, pipeline.ErrRejected}
	for _, tc := range []struct {
		name   string
		err    func() error
		want   error // nil: none of all
		config bool
		text   string
	}{
		{"out of credit", func() error { rp.FailNext("create", http.StatusPaymentRequired, ""); return create(ok, model, image) },
			pipeline.ErrNoCredit, true, "402 Insufficient credit: You have insufficient credit to run this model."},
		{"token refused", func() error { return create(replicate.New(rp.URL, "r8_revoked", http.DefaultClient), model, image) },
			pipeline.ErrTokenRefused, true, "401 Unauthenticated"},
		{"model gone", func() error { return create(ok, "acme/deleted", image) }, pipeline.ErrModelGone, true, "404 Not found"},
		{"version gone", func() error { return create(ok, model+":"+strings.Repeat("0", 64), image) },
			pipeline.ErrModelGone, true, "422 Invalid version or not permitted"},
		{"input refused", func() error { return create(ok, model, map[string]any{}) }, pipeline.ErrRejected, false, "422 Input validation failed"},
		{"busy", func() error {
			rp.FailAlways("create", http.StatusServiceUnavailable, "")
			defer rp.ClearFaults()
			return create(ok, model, image)
		}, nil, false, "503"},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.text)
			continue
		}
		for _, e := range all {
			if errors.Is(err, e) != (e == tc.want) {
				t.Errorf("%s: errors.Is(%v) = %v", tc.name, e, !(e == tc.want))
			}
		}
		if errors.Is(err, pipeline.ErrConfig) != tc.config {
			t.Errorf("%s: ErrConfig %v, want %v", tc.name, !tc.config, tc.config)
		}
	}
}
