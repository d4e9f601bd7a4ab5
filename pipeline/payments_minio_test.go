package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/s3store"
)

// Money against a real S3 server: the conditional writes that make every
// Star count once are MinIO's, not a map's.

func TestMain(m *testing.M) { miniotest.Main(m) }

// onMinIO makes the core keep its state in a fresh MinIO bucket.
func (c *core) onMinIO() *s3store.Store {
	c.t.Helper()
	srv := miniotest.Start(c.t)
	s, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(c.t),
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		c.t.Fatal(err)
	}
	c.rewire(s, c.chat)
	return s
}

// balanceIn reads the user's balance from the bucket.
func (c *core) balanceIn(s *s3store.Store, user int64) int {
	c.t.Helper()
	data, _, err := s.Get(context.Background(), fmt.Sprintf("accounts/%d.json", user))
	var a struct{ Stars int }
	if err != nil || json.Unmarshal(data, &a) != nil {
		c.t.Fatalf("balance of %d: %v", user, err)
	}
	return a.Stars
}

func TestStarsCountOnceOnMinIO(t *testing.T) {
	c := payCore(t, 10, func(o *pipeline.Options) { o.Effects = []pipeline.Effect{upscale, nobg}; o.Effects[0].Price = 10 })
	s := c.onMinIO()

	// Five reports of one pack's payment at once: credited once.
	c.handle(&pipeline.Update{ID: 1, Press: &pipeline.Press{ID: "b", From: pipeline.User{ID: 7}, ChatID: 7, Data: "b:50"}})
	pay := c.paid(7, 50, c.lastInvoice().Payload, "charge-1")
	var wg sync.WaitGroup
	var told atomic.Int32
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.handle(pay)
			if err != nil {
				t.Error(err)
			} else if r != nil {
				told.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := c.balanceIn(s, 7); got != 50 || told.Load() != 1 {
		t.Fatalf("balance %d, told %d times; want 50, once", got, told.Load())
	}

	// Six choices at once with a balance for five: five run, one is
	// invoiced.
	var started atomic.Int32
	for range 6 {
		photo, menu := c.menu(7)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.press(photo, menu, true, "e:upscale", 7)
			if err != nil {
				t.Error(err)
			} else if r != nil && r.PredictionID != "" {
				started.Add(1)
			}
		}()
	}
	wg.Wait()
	invoices, _ := c.pay.Record()
	if started.Load() != 5 || len(invoices) != 2 || c.balanceIn(s, 7) != 0 {
		t.Fatalf("started %d, %d invoices, balance %d; want 5, 2 (the pack's and one photo's), 0", started.Load(), len(invoices), c.balanceIn(s, 7))
	}

	// Each failure's webhook three times at once: each price comes back
	// once.
	created, _ := c.models.Record()
	if len(created) != 5 {
		t.Fatalf("%d predictions", len(created))
	}
	for i := range 5 {
		o := &pipeline.Outcome{ID: fmt.Sprintf("pred%022d", i+1), Status: pipeline.Failed, Error: "boom"}
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c.deliver(o) != nil { // a busy claim: Replicate retries, a little later
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	if got := c.balanceIn(s, 7); got != 50 {
		t.Errorf("balance %d after five failures, want 50", got)
	}
	sent, _, _ := c.chat.Record()
	returned := 0
	for _, m := range sent {
		if strings.Contains(m.Text, "10 Stars returned") {
			returned++
		}
	}
	if returned != 5 {
		t.Errorf("told of %d returns, want 5", returned)
	}
}
