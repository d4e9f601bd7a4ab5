package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/photobot/photobot/internal/fake"
	"github.com/photobot/photobot/s3store"
)

// LoadConfig describes a load: photos from a number of chats, some in
// flight at once, against a Replicate whose model takes a random time and
// which delivers some webhooks twice, or before it answers the create call.
type LoadConfig struct {
	Photos, Chats, Concurrency int
	// MaxModelTime: each prediction completes after a random time in
	// [0, MaxModelTime).
	MaxModelTime time.Duration
	// DupRate of the predictions get their completed webhook twice, at once
	// (same webhook-id); EarlyRate get it before the create call is
	// answered. Exactly round(Photos*rate) predictions of each, chosen at
	// random and independently.
	DupRate, EarlyRate float64
	Seed               uint64
	// Vars are extra environment variables of serve.
	Vars map[string]string
}

// LoadResult is what a load did and what went wrong.
type LoadResult struct {
	Config                 LoadConfig
	Wall                   time.Duration // first update posted to the last result sent
	AckP50, AckP99, AckMax time.Duration // the Telegram webhook's answer times
	Status                 map[int]int   // HTTP status of every update delivery
	Redelivered            int           // updates delivered again after a 5xx
	Predictions, Canceled  int
	Kinds                  [4]int      // predictions per Replicate behaviour: plain, duplicated, early, both
	Webhooks               map[int]int // Replicate webhook attempts by the status serve answered
	Results                int         // sendPhoto calls for this load's photos
	OtherSends             int         // sendMessage calls to this load's chats (errors told to users)
	ServeCPU               time.Duration
	PeakRSS                int64
	// LeftToLifecycle are keys serve logged it left to the bucket's
	// lifecycle rules (a cleanup out of time, a stalled save that landed
	// after the delivery deleted its task).
	LeftToLifecycle []string
	Problems        []string
}

// OK reports whether every photo got exactly one result and nothing else
// went wrong.
func (r *LoadResult) OK() bool { return len(r.Problems) == 0 }

func (r *LoadResult) String() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "load: %d photos from %d chats, %d at a time; model time random in [0, %v); %.0f%% webhooks twice, %.0f%% before the create answer\n",
		c.Photos, c.Chats, c.Concurrency, c.MaxModelTime, c.DupRate*100, c.EarlyRate*100)
	fmt.Fprintf(&b, "  wall time            %v (%.1f photos/s)\n", r.Wall.Round(time.Millisecond), float64(c.Photos)/r.Wall.Seconds())
	fmt.Fprintf(&b, "  ack p50 / p99 / max  %v / %v / %v\n", ms(r.AckP50), ms(r.AckP99), ms(r.AckMax))
	fmt.Fprintf(&b, "  update deliveries    %s (redelivered after a 5xx: %d)\n", statusList(r.Status), r.Redelivered)
	fmt.Fprintf(&b, "  predictions          %d created, %d canceled; plain %d, webhook twice %d, webhook early %d, both %d\n",
		r.Predictions, r.Canceled, r.Kinds[0], r.Kinds[1], r.Kinds[2], r.Kinds[3])
	fmt.Fprintf(&b, "  replicate webhooks   %s\n", statusList(r.Webhooks))
	fmt.Fprintf(&b, "  results (sendPhoto)  %d for %d photos; other messages to users: %d\n", r.Results, c.Photos, r.OtherSends)
	fmt.Fprintf(&b, "  serve                %v CPU (%.2f ms/photo), peak RSS %.1f MiB\n", r.ServeCPU.Round(time.Millisecond),
		float64(r.ServeCPU)/float64(time.Millisecond)/float64(c.Photos), mib(r.PeakRSS))
	if len(r.LeftToLifecycle) > 0 {
		fmt.Fprintf(&b, "  left to lifecycle    %d (logged: a cleanup out of time, a stalled save landing late): %s\n", len(r.LeftToLifecycle), first(r.LeftToLifecycle, 3))
	}
	if r.OK() {
		b.WriteString("  OK: every photo got exactly one result\n")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  FAIL: %s\n", p)
	}
	return b.String()
}

func statusList(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, m[c]))
	}
	return strings.Join(parts, ", ")
}

// RunLoad runs a load through a fresh `photobot serve` and checks that
// every photo got exactly one result.
func RunLoad(e *Env, c LoadConfig) (*LoadResult, error) {
	r := &LoadResult{Config: c, Webhooks: map[int]int{}}
	rnd := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	mix := newReplicateMix(e, c, rand.New(rand.NewPCG(c.Seed+1, c.Seed^0x6a09e667f3bcc908)))
	vars := map[string]string{
		// Per-user limits stay on (their CAS counters are exercised) but
		// never bind: every photo must get its result.
		"MAX_ACTIVE_PER_USER":  strconv.Itoa(c.Photos),
		"DAILY_LIMIT_PER_USER": strconv.Itoa(c.Photos),
	}
	for k, v := range c.Vars {
		vars[k] = v
	}
	s, err := e.StartServe(ServeConfig{Replicate: mix.URL + "/v1", Vars: vars})
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	if err := s.WaitReady(10 * time.Second); err != nil {
		return nil, err
	}

	chats := make([]int64, c.Chats)
	for i := range chats {
		chats[i] = e.NewChat()
	}
	photos := make([]*Photo, c.Photos)
	for i := range photos {
		photos[i] = e.NewPhoto(chats[i%len(chats)], e.Photo)
	}
	rnd.Shuffle(len(photos), func(i, j int) { photos[i], photos[j] = photos[j], photos[i] })
	cpu0, _ := s.CPU()

	d := e.drive(s, photos, c.Concurrency, 10)
	last, waitErr := e.WaitResults(photos, c.MaxModelTime+2*time.Minute)
	// Let late duplicates and retries arrive: wait until Replicate has been
	// quiet for a second.
	mix.waitQuiet(time.Second, 30*time.Second)
	cpu1, _ := s.CPU()
	r.ServeCPU = cpu1 - cpu0
	r.PeakRSS, _ = s.PeakRSS()

	lat := d.latencies()
	r.AckP50, r.AckP99 = quantile(lat, 0.5), quantile(lat, 0.99)
	if len(lat) > 0 {
		r.AckMax = lat[len(lat)-1]
	}
	r.Wall = last.Sub(d.Start)
	r.Status, r.Redelivered = d.Status, d.Redelivered
	if waitErr != nil {
		r.Problems = append(r.Problems, waitErr.Error())
	}

	// Every update answered 200, with "accepted" unless it was a
	// redelivery of one already handled (answered 200 without a reply).
	var refused []string
	for _, p := range photos {
		a := d.Final[p.key()]
		if a.Status != http.StatusOK || (!a.Accepted && d.Tries[p.key()] == 1) {
			refused = append(refused, fmt.Sprintf("chat %d message %d: %d %q %v", p.ChatID, p.MessageID, a.Status, a.Text, a.Err))
		}
	}
	if len(refused) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d of %d photos were not accepted: %s", len(refused), len(photos), first(refused, 3)))
	}
	// Exactly one result per photo.
	got, _ := e.Results()
	var missing, twice []string
	var twiceStory string
	for _, p := range photos {
		n := got[p.key()]
		r.Results += n
		switch {
		case n == 0:
			missing = append(missing, fmt.Sprintf("chat %d message %d", p.ChatID, p.MessageID))
		case n > 1:
			twice = append(twice, fmt.Sprintf("chat %d message %d (%d results)", p.ChatID, p.MessageID, n))
			if twiceStory == "" {
				logged, _ := os.ReadFile(s.Log)
				twiceStory = updateStory(logged, p.UpdateID)
			}
		}
	}
	if len(missing) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d photos got no result: %s", len(missing), first(missing, 5)))
	}
	if len(twice) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d photos got more than one result: %s\n%s", len(twice), first(twice, 5), twiceStory))
	}
	mine := map[string]bool{}
	for _, ch := range chats {
		mine[strconv.FormatInt(ch, 10)] = true
	}
	var texts []string
	for _, call := range e.TG.Calls("sendMessage") {
		if mine[call.Params["chat_id"]] {
			r.OtherSends++
			texts = append(texts, strconv.Quote(call.Params["text"]))
		}
	}
	if r.OtherSends > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d messages other than results were sent: %s", r.OtherSends, first(texts, 3)))
	}
	// One prediction per photo (a canceled one is not billed).
	r.Kinds = mix.kindsUsed()
	for _, f := range mix.fakes {
		r.Predictions += len(f.Predictions())
		r.Canceled += len(f.Canceled())
		for _, dl := range f.Deliveries() {
			r.Webhooks[dl.Status]++
		}
	}
	if r.Predictions-r.Canceled != len(photos) {
		logged, _ := os.ReadFile(s.Log)
		r.Problems = append(r.Problems, fmt.Sprintf("%d predictions created and %d canceled for %d photos\n%s",
			r.Predictions, r.Canceled, len(photos), unseenStory(logged, mix)))
	}
	// Nothing left behind: every task and photo is deleted on delivery.
	// The last deletions may still be under way (a webhook answers after
	// its cleanup, and its sender may not have recorded it yet): wait for
	// the bucket to be clean, up to a limit. A key serve logged it could
	// not delete (its cleanup has a deadline; the lifecycle rules expire
	// what is left) is reported, not a failure.
	if st, err := e.Store(s.Bucket); err == nil {
		// What serve said it left to the lifecycle rules is not waited for.
		left, err := waitEmpty(st, []string{"tasks/", "images/"}, 30*time.Second, func(left []string) bool {
			logged, _ := os.ReadFile(s.Log)
			for _, key := range left {
				if !explained(logged, key) {
					return false
				}
			}
			return true
		})
		if err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
		logged, _ := os.ReadFile(s.Log)
		var unexplained []string
		for _, key := range left {
			if explained(logged, key) {
				r.LeftToLifecycle = append(r.LeftToLifecycle, key)
			} else {
				unexplained = append(unexplained, key)
			}
		}
		if len(unexplained) > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d objects left under tasks/ and images/ with no word in serve's log: %s\n%s",
				len(unexplained), first(unexplained, 3), story(logged, unexplained[0])))
		}
	}
	return r, nil
}

// waitEmpty waits until no key is left under prefixes, or only keys that
// settled accepts, and returns what is left then or when timeout passes.
func waitEmpty(st *s3store.Store, prefixes []string, timeout time.Duration, settled func([]string) bool) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, prefix := range prefixes {
			keys, err := st.List(context.Background(), prefix)
			if err != nil {
				return nil, err
			}
			left = append(left, keys...)
		}
		if len(left) == 0 || settled(left) || time.Now().After(deadline) {
			return left, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// story is what serve logged about the prediction (or the photo) key
// belongs to: where to start looking.
func story(log []byte, key string) string {
	id := strings.TrimSuffix(path.Base(key), path.Ext(key))
	var b strings.Builder
	fmt.Fprintf(&b, "serve's log about %s:", id)
	for _, line := range bytes.Split(log, []byte("\n")) {
		if bytes.Contains(line, []byte(id)) {
			fmt.Fprintf(&b, "\n    %s", line)
		}
	}
	return b.String()
}

// unseenStory is what serve logged about the first prediction that was
// neither canceled nor answered 200 by its webhook: a paid prediction
// whose result nobody took.
func unseenStory(log []byte, mix *replicateMix) string {
	for _, f := range mix.fakes {
		canceled := map[string]bool{}
		for _, id := range f.Canceled() {
			canceled[id] = true
		}
		taken := map[string]bool{}
		for _, d := range f.Deliveries() {
			if d.Status == http.StatusOK {
				taken[d.PredictionID] = true
			}
		}
		for _, p := range f.Predictions() {
			if !canceled[p.ID] && !taken[p.ID] {
				return fmt.Sprintf("prediction %s was neither canceled nor taken (no line below: its create call was answered too late); %s", p.ID, story(log, "tasks/"+p.ID+".json"))
			}
		}
	}
	return "every prediction was canceled or taken"
}

// updateStory is what serve logged about an update and the predictions
// it started.
func updateStory(log []byte, updateID int64) string {
	mark := []byte(fmt.Sprintf(`"update_id":%d,`, updateID))
	ids := map[string]bool{}
	lines := bytes.Split(log, []byte("\n"))
	for _, line := range lines {
		var l struct {
			PredictionID string `json:"prediction_id"`
		}
		if bytes.Contains(line, mark) && json.Unmarshal(line, &l) == nil && l.PredictionID != "" {
			ids[l.PredictionID] = true
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "serve's log about update %d:", updateID)
	for _, line := range lines {
		var l struct {
			PredictionID string `json:"prediction_id"`
		}
		_ = json.Unmarshal(line, &l)
		if bytes.Contains(line, mark) || ids[l.PredictionID] {
			fmt.Fprintf(&b, "\n    %s", line)
		}
	}
	return b.String()
}

// explained reports whether serve logged that it left key to the
// lifecycle rules.
func explained(log []byte, key string) bool {
	for _, line := range bytes.Split(log, []byte("\n")) {
		if bytes.Contains(line, []byte(key)) && bytes.Contains(line, []byte("the lifecycle rule will")) {
			return true
		}
	}
	return false
}

func first(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], "; ") + "; ..."
	}
	return strings.Join(s, "; ")
}

// replicateMix is the Replicate API serve talks to during a load: four
// fakes behind one URL, one per behaviour (plain, completed webhook sent
// twice, webhook before the create answer, both). Each create call goes to
// the fake its place in a shuffled plan says; calls about a prediction go
// to the fake that made it. Each fake does what its documented switches
// say (DuplicateWebhooks, WebhookBeforeResponse), so the behaviours are
// the fakes' own, per prediction.
type replicateMix struct {
	URL   string
	fakes [4]*fake.Replicate // index: 1 = twice, 2 = early

	plan  []int
	calls atomic.Int64
	mu    sync.Mutex
	byID  map[string]int
	kinds [4]int
}

// newReplicateMix starts the fakes; rnd is its own (the model functions
// use it from their goroutines, under a lock).
func newReplicateMix(e *Env, c LoadConfig, rnd *rand.Rand) *replicateMix {
	m := &replicateMix{byID: map[string]int{}, plan: make([]int, max(c.Photos, 1))}
	pick := func(rate float64, bit int) {
		for _, i := range rnd.Perm(len(m.plan))[:int(rate*float64(len(m.plan))+0.5)] {
			m.plan[i] |= bit
		}
	}
	pick(c.DupRate, 1)
	pick(c.EarlyRate, 2)
	var rmu sync.Mutex
	modelTime := func() time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		if c.MaxModelTime <= 0 {
			return 0
		}
		return time.Duration(rnd.Int64N(int64(c.MaxModelTime)))
	}
	png := fake.PNG(64, 48)
	proxies := [4]*httputil.ReverseProxy{}
	for kind := range m.fakes {
		f := fake.NewReplicate(e.tb, replicateToken)
		f.WebhookSecret = e.RP.WebhookSecret
		f.DuplicateWebhooks = kind & 1
		f.WebhookBeforeResponse = kind&2 != 0
		// Replicate retries a failed webhook for about a minute.
		f.WebhookRetries, f.WebhookBackoff = 10, 50*time.Millisecond
		output := f.ServeOutput("result.png", "image/png", png)
		e.ResultOrigins = append(e.ResultOrigins, f.URL)
		early := f.WebhookBeforeResponse
		f.SetModelFunc(func(map[string]any, []byte) (string, any, string) {
			// An early webhook is a model that finished before the create
			// call was answered: it takes no time.
			if !early {
				time.Sleep(modelTime())
			}
			return fake.StatusSucceeded, output, ""
		})
		m.fakes[kind] = f
		u, _ := url.Parse(strings.TrimSuffix(f.URL, "/v1"))
		proxies[kind] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) },
			ModifyResponse: func(resp *http.Response) error {
				if resp.StatusCode != http.StatusCreated || !isCreate(resp.Request) {
					return nil
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				var p struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(body, &p)
				m.mu.Lock()
				m.byID[p.ID] = kind
				m.kinds[kind]++
				m.mu.Unlock()
				resp.Body = io.NopCloser(bytes.NewReader(body))
				return nil
			},
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := 0
		if isCreate(r) {
			kind = m.plan[int(m.calls.Add(1)-1)%len(m.plan)]
		} else if id, ok := strings.CutPrefix(r.URL.Path, "/v1/predictions/"); ok {
			m.mu.Lock()
			kind = m.byID[strings.TrimSuffix(id, "/cancel")]
			m.mu.Unlock()
		}
		proxies[kind].ServeHTTP(w, r)
	}))
	e.tb.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func isCreate(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodPost && (p == "/v1/predictions" ||
		(strings.HasPrefix(p, "/v1/models/") && strings.HasSuffix(p, "/predictions")))
}

func (m *replicateMix) kindsUsed() [4]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kinds
}

// waitQuiet waits until no webhook was attempted for `quiet`, at most max.
func (m *replicateMix) waitQuiet(quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	count := func() int {
		n := 0
		for _, f := range m.fakes {
			n += len(f.Deliveries())
		}
		return n
	}
	last, since := count(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < quiet {
		time.Sleep(50 * time.Millisecond)
		if n := count(); n != last {
			last, since = n, time.Now()
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
