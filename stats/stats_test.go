package stats_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photobot/photobot/internal/inmem"
	"github.com/photobot/photobot/internal/miniotest"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/s3store"
	"github.com/photobot/photobot/stats"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

var noon = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func minioStore(t *testing.T) *s3store.Store {
	srv := miniotest.Start(t)
	s, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// counting wraps a store and counts its calls.
type counting struct {
	pipeline.Store
	gets, writes atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, string, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Create(ctx context.Context, key string, data []byte) (string, error) {
	c.writes.Add(1)
	return c.Store.Create(ctx, key, data)
}

func (c *counting) Replace(ctx context.Context, key string, data []byte, etag string) (string, error) {
	c.writes.Add(1)
	return c.Store.Replace(ctx, key, data, etag)
}

// Concurrent writers on MinIO, from two ledgers (two instances), lose no
// count: every photo is in the sum, spend and model time exact.
func TestConcurrentCountsLoseNothingOnMinIO(t *testing.T) {
	ctx := ctxFor(t)
	store := minioStore(t)
	ledgers := []*stats.Ledger{stats.New(store, nil), stats.New(store, nil)}
	const writers, each = 16, 12
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := &pipeline.Event{At: noon, User: int64(w*1000 + i%3 + 1), Effect: "restore", Outcome: pipeline.Delivered,
					Took: 1500 * time.Millisecond, Spend: 0.0023}
				if err := ledgers[w%2].Count(ctx, e); err != nil {
					failed.Add(1)
					t.Errorf("count: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	r, err := ledgers[0].Report(ctx, noon.Add(time.Hour), 30)
	if err != nil {
		t.Fatal(err)
	}
	const n = writers * each
	if r.Today.Photos != n || r.Today.Outcomes[pipeline.Delivered] != n || r.Today.Effects["restore"] != n {
		t.Errorf("today: %d photos, %v, %v; want %d delivered of restore", r.Today.Photos, r.Today.Outcomes, r.Today.Effects, n)
	}
	if want := time.Duration(n) * 1500 * time.Millisecond; r.Today.ModelTime != want {
		t.Errorf("model time %v, want %v", r.Today.ModelTime, want)
	}
	if want := 0.0023 * n; r.Today.Spend < want-1e-9 || r.Today.Spend > want+1e-9 {
		t.Errorf("spend %v, want %v", r.Today.Spend, want)
	}
	if want := int64(writers * 3); r.Today.Users != want {
		t.Errorf("users %d, want %d", r.Today.Users, want)
	}
	if r.Month.Photos != n || r.Week.Photos != n {
		t.Errorf("week %d, month %d photos, want %d", r.Week.Photos, r.Month.Photos, n)
	}
}

// A closed day is summed from its shards once, into its rollup; later
// reports read that one object for it.
func TestClosedDaysAreRolledUpOnce(t *testing.T) {
	ctx := ctxFor(t)
	store := &counting{Store: inmem.NewStore()}
	l := stats.New(store, nil)
	yesterday := noon.AddDate(0, 0, -1)
	for i := range 5 {
		l.Count(ctx, &pipeline.Event{At: yesterday, User: int64(i + 1), Effect: "restore", Outcome: pipeline.FailedModel})
	}
	l.Count(ctx, &pipeline.Event{At: noon, User: 1, Effect: "restore", Outcome: pipeline.Delivered})
	l.Count(ctx, &pipeline.Event{At: noon, User: 2, Outcome: pipeline.RefusedAccess})
	l.Add(ctx, noon, pipeline.CounterStarsEarned, 150)

	store.gets.Store(0)
	first, err := l.Report(ctx, noon, 30)
	if err != nil {
		t.Fatal(err)
	}
	// 29 rollups missing: each sums its shards; today's shards.
	if got, want := store.gets.Load(), int64(29*(1+stats.Shards)+stats.Shards); got != want {
		t.Errorf("first report: %d reads, want %d", got, want)
	}
	store.gets.Store(0)
	store.writes.Store(0)
	second, err := l.Report(ctx, noon, 30)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := store.gets.Load(), int64(29+stats.Shards); got != want {
		t.Errorf("second report: %d reads, want %d (one per closed day, today's shards)", got, want)
	}
	if store.writes.Load() != 0 {
		t.Errorf("second report wrote %d objects", store.writes.Load())
	}
	for _, r := range []*pipeline.Report{first, second} {
		y := r.Days[28]
		if !y.Date.Equal(yesterday.Truncate(24*time.Hour)) || y.Photos != 5 || y.Outcomes[pipeline.FailedModel] != 5 || y.Users != 5 {
			t.Errorf("yesterday: %+v", y)
		}
		if r.Today.Photos != 1 || r.Today.Outcomes[pipeline.RefusedAccess] != 1 || r.Today.Users != 2 ||
			r.Today.Counters[pipeline.CounterStarsEarned] != 150 {
			t.Errorf("today: %+v", r.Today)
		}
		if r.Week.Photos != 6 || r.Week.Users != 5 || len(r.Days) != 30 {
			t.Errorf("week: %+v, %d days", r.Week, len(r.Days))
		}
	}
}

// The last alert is the latest of the 30 days.
func TestLastAlert(t *testing.T) {
	ctx := ctxFor(t)
	l := stats.New(inmem.NewStore(), nil)
	r, _ := l.Report(ctx, noon, 30)
	if r.LastAlert != nil {
		t.Errorf("no alert yet, got %+v", r.LastAlert)
	}
	l.Alerted(ctx, &pipeline.Alert{Kind: pipeline.AlertBucket, At: noon.AddDate(0, 0, -3)})
	l.Alerted(ctx, &pipeline.Alert{Kind: pipeline.AlertNoCredit, At: noon.Add(-time.Hour)})
	l.Alerted(ctx, &pipeline.Alert{Kind: pipeline.AlertToken, At: noon.AddDate(0, 0, -1)})
	r, err := l.Report(ctx, noon, 30)
	if err != nil {
		t.Fatal(err)
	}
	if r.LastAlert == nil || r.LastAlert.Kind != pipeline.AlertNoCredit || !r.LastAlert.At.Equal(noon.Add(-time.Hour)) {
		t.Errorf("last alert %+v, want the out-of-credit one an hour ago", r.LastAlert)
	}
}

// A shard that cannot be read fails the report (no rollup of a partial
// sum), and counting says so.
func TestStoreFailuresAreErrors(t *testing.T) {
	ctx := ctxFor(t)
	store := inmem.NewStore()
	l := stats.New(store, nil)
	store.FailAlways("get stats/", pipeline.ErrRefused)
	if err := l.Count(ctx, &pipeline.Event{At: noon, Outcome: pipeline.Delivered}); err == nil {
		t.Error("count with the bucket refusing: no error")
	}
	if _, err := l.Report(ctx, noon, 30); err == nil {
		t.Error("report with the bucket refusing: no error")
	}
	store.FailAlways("get stats/", nil)
	if _, err := l.Report(ctx, noon, 30); err != nil {
		t.Errorf("report once the bucket answers: %v", err)
	}
}

// Distinct users are exact when few, and estimated within 5% at 10,000.
func TestDistinctUsers(t *testing.T) {
	ctx := ctxFor(t)
	l := stats.New(inmem.NewStore(), nil)
	for _, n := range []int{1, 7} {
		l.Count(ctx, &pipeline.Event{At: noon.AddDate(0, 0, -n), User: int64(n), Outcome: pipeline.Delivered})
	}
	const many = 10000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < many; i += 8 {
				if err := l.Count(ctx, &pipeline.Event{At: noon, User: 5_000_000_000 + int64(i)*7919, Outcome: pipeline.Delivered}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r, err := l.Report(ctx, noon, 30)
	if err != nil {
		t.Fatal(err)
	}
	if u := r.Today.Users; u < many*95/100 || u > many*105/100 {
		t.Errorf("today: %d users, want %d within 5%%", u, many)
	}
	if r.Days[29-7].Users != 1 || r.Week.Users-r.Today.Users != 1 && r.Week.Photos != many+1 {
		t.Errorf("a week ago: %d users; week %d users %d photos", r.Days[29-7].Users, r.Week.Users, r.Week.Photos)
	}
}

// The chart is a PNG of ChartWidth x ChartHeight, for a busy month and
// for an empty one.
func TestChartIsAPNGOfItsSize(t *testing.T) {
	ctx := ctxFor(t)
	empty, _ := stats.New(inmem.NewStore(), nil).Report(ctx, noon, 30)
	l := stats.New(inmem.NewStore(), nil)
	for d := range 30 {
		at := noon.AddDate(0, 0, -d)
		for i := range 3 + d%5 {
			l.Count(ctx, &pipeline.Event{At: at, User: int64(i), Effect: "restore", Outcome: pipeline.Delivered, Spend: 0.01})
		}
		if d%3 == 0 {
			l.Count(ctx, &pipeline.Event{At: at, User: 9, Effect: "restore", Outcome: pipeline.FailedMemory})
			l.Count(ctx, &pipeline.Event{At: at, User: 9, Outcome: pipeline.RefusedLimit})
		}
	}
	busy, err := l.Report(ctx, noon, 30)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*pipeline.Report{"empty": empty, "busy": busy} {
		data, err := l.Chart(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", name, err)
		}
		if b := img.Bounds(); b != image.Rect(0, 0, stats.ChartWidth, stats.ChartHeight) {
			t.Errorf("%s: %v, want %dx%d", name, b, stats.ChartWidth, stats.ChartHeight)
		}
		if name == "busy" && !drawn(img) {
			t.Errorf("busy: the chart has no bars")
		}
		if out := os.Getenv("STATS_CHART"); out != "" && name == "busy" && !strings.Contains(out, "..") {
			os.WriteFile(out, data, 0o644)
		}
	}
}

// drawn reports whether img has the delivered bars' green.
func drawn(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == 0x2e && g>>8 == 0x9d && bl>>8 == 0x4a {
				return true
			}
		}
	}
	return false
}
