package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// An official model run by name, with the start event: it comes once the
// model takes the prediction (processing, started_at set), before the
// completed one.
func TestReplicateStartEventOfAModelRunByName(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	r.SetModel("black-forest-labs", "flux-kontext-pro", "", "input_image", "prompt", "output_format")
	r.ImageField = "input_image"
	r.QueueTime = 200 * time.Millisecond
	img := imageServer(t, JPEG(32, 32))
	hook := newReceiver(t)
	status, body, _ := rcall(t, r, http.MethodPost, "/models/black-forest-labs/flux-kontext-pro/predictions", map[string]any{
		"input":   map[string]any{"input_image": img.URL + "/p.jpg", "prompt": "anime"},
		"webhook": hook.URL, "webhook_events_filter": []string{"start", "completed"}}, nil)
	if status != 201 || decodeMap(t, body)["status"] != "starting" {
		t.Fatalf("create: %d %s", status, body)
	}
	ds := r.WaitDeliveries(t, 2, 5*time.Second)
	got := hook.received()
	if len(got) != 2 || ds[0].Event != "start" || ds[1].Event != "completed" {
		t.Fatalf("deliveries %+v", ds)
	}
	start := decodeMap(t, got[0].body)
	if start["status"] != "processing" || start["started_at"] == nil || start["output"] != nil || start["model"] != "black-forest-labs/flux-kontext-pro" {
		t.Errorf("start webhook %s", got[0].body)
	}
	verifyStandardWebhook(t, r.WebhookSecret, got[0].header, got[0].body)
	created, _ := time.Parse(time.RFC3339, start["created_at"].(string))
	started, _ := time.Parse(time.RFC3339, start["started_at"].(string))
	if started.Sub(created) < 150*time.Millisecond {
		t.Errorf("started %v after creation, want after the queue time", started.Sub(created))
	}
}

// RequireInputs: the schema lists them as required, and a prediction
// without them is refused as the real API refuses it.
func TestReplicateRequiredInputs(t *testing.T) {
	r := NewReplicate(t, replicateToken)
	r.SetModel("acme", "kontext", "", "image", "prompt")
	r.RequireInputs("acme", "kontext", "prompt")
	status, body, _ := rcall(t, r, http.MethodGet, "/models/acme/kontext", nil, nil)
	var m struct {
		LatestVersion struct {
			OpenAPISchema struct {
				Components struct {
					Schemas struct {
						Input struct {
							Required []string `json:"required"`
						} `json:"Input"`
					} `json:"schemas"`
				} `json:"components"`
			} `json:"openapi_schema"`
		} `json:"latest_version"`
	}
	json.Unmarshal(body, &m)
	if got := fmt.Sprint(m.LatestVersion.OpenAPISchema.Components.Schemas.Input.Required); status != 200 || got != "[image prompt]" {
		t.Errorf("required %s (%d)", got, status)
	}
	img := imageServer(t, JPEG(32, 32))
	status, body, _ = rcall(t, r, http.MethodPost, "/models/acme/kontext/predictions",
		map[string]any{"input": map[string]any{"image": img.URL + "/p.jpg"}}, nil)
	if status != 422 || decodeMap(t, body)["detail"] != "- input: prompt is required\n" {
		t.Errorf("without the prompt: %d %s", status, body)
	}
}
