package replicate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/replicate"
)

// A local bot's photo reaches the model without a public URL: inline when
// small, through the Files API (named after the photo) when large; kept in
// the store either way.
func TestImageStore(t *testing.T) {
	const token = "r8_imagestore"
	rp := fake.NewReplicate(t, token)
	store := inmem.NewStore()
	s := &replicate.ImageStore{Store: store, Client: replicate.New(rp.URL, token, nil), MaxSize: 1 << 20}
	ctx := context.Background()

	small := fake.JPEG(32, 32)
	url, err := s.StoreImage(ctx, "images/input/small.jpg", bytes.NewReader(small), int64(len(small)), "image/jpeg")
	if err != nil || !strings.HasPrefix(url, "data:image/jpeg;base64,") {
		t.Errorf("small photo: %.40q, %v", url, err)
	}
	large := bytes.Repeat([]byte{0xAB}, 300<<10)
	url, err = s.StoreImage(ctx, "images/input/large.jpg", bytes.NewReader(large), int64(len(large)), "image/jpeg")
	if err != nil || strings.HasPrefix(url, "data:") {
		t.Fatalf("large photo: %.40q, %v", url, err)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f struct {
		Name string `json:"name"`
		Size int    `json:"size"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || f.Name != "large.jpg" || f.Size != len(large) {
		t.Errorf("uploaded file %+v (%v), want large.jpg of %d bytes", f, err, len(large))
	}
	for key, want := range map[string][]byte{"images/input/small.jpg": small, "images/input/large.jpg": large} {
		if got, _, err := store.Get(ctx, key); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes stored (%v), want %d", key, len(got), err, len(want))
		}
	}
}
