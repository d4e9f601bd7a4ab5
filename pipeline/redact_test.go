package pipeline_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/photobot/photobot/internal/testenv"
	"github.com/photobot/photobot/pipeline"
)

// A model's error that quotes its presigned input URL leaves the
// credential out of the operator's log, and still says what failed.
func TestModelErrorLogHasNoPresignedURL(t *testing.T) {
	c := newCore(t)
	var log testenv.Logs
	b, err := pipeline.New(pipeline.Deps{Store: c.store, Images: c.store, Chat: c.chat, Models: c.models,
		Log: slog.New(slog.NewJSONHandler(&log, nil))}, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	c.bot = b
	r, _ := c.handle(c.photo(7, "en"))
	presigned := "https://storage.yandexcloud.net/bucket/images/input/p.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAEXAMPLE%2F20261205%2Fru-central1%2Fs3%2Faws4_request&X-Amz-Date=20261205T091900Z" +
		"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef"
	modelErr := "cannot identify image file '" + presigned + "' (also X-Amz-Security-Token=FQoGZXIvYXdzE in the header)"
	if err := c.deliver(&pipeline.Outcome{ID: r.PredictionID, Status: pipeline.Failed, Error: modelErr}); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	if !strings.Contains(out, "model_error") || !strings.Contains(out, "storage.yandexcloud.net/bucket/images/input/p.jpg") {
		t.Fatalf("the log does not say what failed:\n%s", out)
	}
	for _, secret := range []string{"AKIAEXAMPLE", "0123456789abcdef", "FQoGZXIvYXdzE", "X-Amz-Signature=", "X-Amz-Credential="} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	if sent, _, _ := c.chat.Record(); len(sent) != 1 || strings.Contains(sent[0].Text, "http") {
		t.Errorf("told %+v", sent)
	}
}
