package main

import (
	"testing"
	"time"

	"github.com/photobot/photobot/internal/miniotest"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// TestLoad is `make load` at a tenth of its size, with the same code: 100
// photos from 20 chats, 32 at a time, through a `photobot serve` process
// built from this tree, against MinIO and the fakes; Replicate answers
// after a random 0-2 s, 5% of the completed webhooks come twice and 5%
// before the create call is answered. Every photo must get exactly one
// result, with nothing left in the bucket.
func TestLoad(t *testing.T) {
	t.Parallel()
	e, err := NewEnv(t, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	r, err := RunLoad(e, LoadConfig{Photos: 100, Chats: 20, Concurrency: 32, MaxModelTime: 2 * time.Second,
		DupRate: 0.05, EarlyRate: 0.05, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d\n%s", seed, r)
	if !r.OK() {
		t.Errorf("load failed (seed %d): %v", seed, r.Problems)
	}
	if r.Kinds[1]+r.Kinds[3] == 0 || r.Kinds[2]+r.Kinds[3] == 0 {
		t.Errorf("the load made no duplicate or no early webhook: %v", r.Kinds)
	}
}
