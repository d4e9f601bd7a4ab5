package stats

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/s3store"
)

// BenchmarkReport is /stats's read for a bot of 10,000 photos a day from
// 3,000 users, on MinIO: 30 days of full shards. "rolled-up" is every
// /stats but the first of a day (29 rollups and today's 32 shards);
// "first-of-day" sums the 29 closed days' shards and writes their rollups.
func BenchmarkReport(b *testing.B) {
	srv := miniotest.Start(b)
	store, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(b),
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	today := now.Truncate(24 * time.Hour)
	for i := range 30 {
		d := day(today.AddDate(0, 0, -i))
		for n := range Shards {
			if err := store.Put(ctx, shardKey(d, n), bytes.NewReader(fullShard(n)), -1, "application/json"); err != nil {
				b.Fatal(err)
			}
		}
	}
	l := New(store, nil)
	dropRollups := func() {
		for i := 1; i < 30; i++ {
			if err := store.Delete(ctx, rollupKey(day(today.AddDate(0, 0, -i)))); err != nil {
				b.Fatal(err)
			}
		}
	}
	report := func(b *testing.B) {
		r, err := l.Report(ctx, now, 30)
		if err != nil || r.Month.Photos != 30*10000 {
			b.Fatalf("report: %v, %d photos in 30 days", err, r.Month.Photos)
		}
	}
	b.Run("first-of-day", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			dropRollups()
			b.StartTimer()
			report(b)
		}
	})
	b.Run("rolled-up", func(b *testing.B) {
		for range b.N {
			report(b)
		}
	})
}

// fullShard is one of a day's 32 shards at 10,000 photos and 3,000 users a
// day: 312 or 313 photos, about 94 users.
func fullShard(n int) []byte {
	r := record{Photos: 10000 / Shards, ModelMS: 10000 / Shards * 3000}
	if n < 10000%Shards {
		r.Photos++
	}
	add(&r.Outcomes, pipeline.Delivered, r.Photos)
	add(&r.Effects, "upscale", r.Photos)
	for u := range 3000 / Shards {
		r.Users.add(int64(n*1000 + u))
	}
	data, _ := json.Marshal(&r)
	return data
}
