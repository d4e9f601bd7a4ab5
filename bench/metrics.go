package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// coldStart measures, in a fresh process each time, the time from starting
// `photobot serve` to the answer of the first photo update (200 with the
// "accepted" reply: the photo is stored and the prediction created). The
// update is delivered as soon as the port accepts connections.
func coldStart(e *Env, runs int, vars map[string]string) (total, listening []time.Duration, err error) {
	for i := 0; i <= runs; i++ { // the first run warms the page cache: not counted
		p := e.NewPhoto(e.NewChat(), e.Photo)
		before := len(e.RP.Predictions())
		s, err := e.StartServe(ServeConfig{Vars: vars})
		if err != nil {
			return nil, nil, err
		}
		if err := s.WaitReady(10 * time.Second); err != nil {
			return nil, nil, err
		}
		ready := time.Since(s.Started)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		a := e.Post(ctx, s, p)
		took := time.Since(s.Started)
		cancel()
		if !a.Accepted || len(e.RP.Predictions()) != before+1 {
			return nil, nil, fmt.Errorf("cold start: first photo answered %d %v (%d predictions)\n%s", a.Status, a.Err,
				len(e.RP.Predictions())-before, s.Tail(10))
		}
		if _, err := e.WaitResults([]*Photo{p}, 20*time.Second); err != nil {
			return nil, nil, err
		}
		s.Stop()
		if i > 0 {
			total = append(total, took)
			listening = append(listening, ready)
		}
	}
	return total, listening, nil
}

// ackWithLatency measures the Telegram webhook's answer time, one photo at
// a time, when every request to Telegram, Replicate and the bucket takes
// `delay` more (a delaying proxy in front of each), and, on the same
// server, with the proxies adding nothing (base): (delayed-base)/delay is
// the number of round trips the answer waits for, one after the other.
func ackWithLatency(e *Env, delay time.Duration, warm, n int, vars map[string]string) (delayed, base []time.Duration, perPhoto map[string]float64, err error) {
	tg := newDelayProxy(e.tb, e.TG.URL, 0)
	rp := newDelayProxy(e.tb, strings.TrimSuffix(e.RP.URL, "/v1"), 0)
	s3 := newDelayProxy(e.tb, e.MinIO.Endpoint, 0)
	s, err := e.StartServe(ServeConfig{Telegram: tg.URL, Replicate: rp.URL + "/v1", S3: s3.URL, Vars: vars})
	if err != nil {
		return nil, nil, nil, err
	}
	defer s.Stop()
	if err := s.WaitReady(10 * time.Second); err != nil {
		return nil, nil, nil, err
	}
	perPhoto = map[string]float64{}
	series := func(d time.Duration, count bool) ([]time.Duration, error) {
		for _, p := range []*delayProxy{tg, rp, s3} {
			p.Delay.Store(int64(d))
		}
		var out []time.Duration
		for i := 0; i < warm+n; i++ {
			p := e.NewPhoto(e.NewChat(), e.Photo)
			t0, r0, m0 := tg.Requests.Load(), rp.Requests.Load(), s3.Requests.Load()
			ut0, ur0, um0 := tg.Upstream.Load(), rp.Upstream.Load(), s3.Upstream.Load()
			a, err := e.SendOne(s, p, 30*time.Second)
			if err != nil {
				return nil, err
			}
			if i < warm {
				continue
			}
			out = append(out, a.Took)
			if count {
				// Requests per photo, both webhooks (the model's read of
				// the photo included in s3).
				perPhoto["telegram"] += float64(tg.Requests.Load()-t0) / float64(n)
				perPhoto["replicate"] += float64(rp.Requests.Load()-r0) / float64(n)
				perPhoto["s3"] += float64(s3.Requests.Load()-m0) / float64(n)
			} else {
				// How long each service takes to answer, without delay:
				// milliseconds per request, averaged.
				perPhoto["telegram ms"] += float64(tg.Upstream.Load()-ut0) / 1e6
				perPhoto["replicate ms"] += float64(rp.Upstream.Load()-ur0) / 1e6
				perPhoto["s3 ms"] += float64(s3.Upstream.Load()-um0) / 1e6
				perPhoto["telegram n"] += float64(tg.Requests.Load() - t0)
				perPhoto["replicate n"] += float64(rp.Requests.Load() - r0)
				perPhoto["s3 n"] += float64(s3.Requests.Load() - m0)
			}
		}
		return out, nil
	}
	if base, err = series(0, false); err != nil {
		return nil, nil, nil, err
	}
	if delayed, err = series(delay, true); err != nil {
		return nil, nil, nil, err
	}
	// How long each function runs (what Yandex bills), as serve logs it,
	// for the delayed photos: the median of each webhook.
	for name, path := range map[string]string{"handler ms": "/webhook/telegram", "callback ms": "/webhook/replicate"} {
		if d := webhookTimes(s.Log, path, n); len(d) > 0 {
			perPhoto[name] = msf(median(d))
		}
	}
	return delayed, base, perPhoto, nil
}

// webhookTimes reads the durations serve logged for its last n requests to
// path.
func webhookTimes(logPath, path string, n int) []time.Duration {
	data, _ := os.ReadFile(logPath)
	var out []time.Duration
	for _, line := range bytes.Split(data, []byte("\n")) {
		var l struct {
			Msg    string  `json:"msg"`
			Path   string  `json:"path"`
			Status int     `json:"status"`
			MS     float64 `json:"ms"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "request" && l.Path == path && l.Status == 200 {
			out = append(out, time.Duration(l.MS*float64(time.Millisecond)))
		}
	}
	return out[max(0, len(out)-n):]
}

// loadRun is one measurement of serve under concurrent load.
type loadRun struct {
	Photos                       int
	Wall                         time.Duration // first update posted to last result sent
	PhotosPerSec                 float64
	AcksPerSec                   float64
	CPUPerPhoto                  time.Duration // serve, both webhooks
	MinioPerPhoto, BenchPerPhoto time.Duration
	// Others is the CPU the rest of the machine used meanwhile, in CPUs
	// (0.5: half of one CPU): other work on the machine skews the run.
	Others         float64
	PeakRSS        int64
	Errors5xx      int
	AckP50, AckP99 time.Duration
}

// underLoad starts a fresh serve, warms it up, then sends n photos from n
// different users with `workers` in flight and waits for every result.
func underLoad(e *Env, n, workers int, vars map[string]string) (*loadRun, error) {
	return underLoadWith(e, n, workers, ServeConfig{Vars: vars})
}

func underLoadWith(e *Env, n, workers int, c ServeConfig) (*loadRun, error) {
	s, err := e.StartServe(c)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	if err := s.WaitReady(10 * time.Second); err != nil {
		return nil, err
	}
	mk := func(count int) []*Photo {
		ps := make([]*Photo, count)
		for i := range ps {
			ps[i] = e.NewPhoto(e.NewChat(), e.Photo)
		}
		return ps
	}
	warm := mk(4 * workers)
	if d := e.drive(s, warm, workers, 0); d.accepted() != len(warm) {
		return nil, fmt.Errorf("warm-up: %d of %d photos accepted (status %v)\n%s", d.accepted(), len(warm), d.Status, s.Tail(10))
	}
	if _, err := e.WaitResults(warm, 30*time.Second); err != nil {
		return nil, err
	}
	photos := mk(n)
	time.Sleep(100 * time.Millisecond)
	cpu0, err := s.CPU()
	if err != nil {
		return nil, err
	}
	minio0, _ := procCPU(e.MinioPID)
	self0 := selfCPU()
	busy0, _ := machineBusy()

	d := e.drive(s, photos, workers, 0)
	last, err := e.WaitResults(photos, 60*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s.Tail(10))
	}
	time.Sleep(200 * time.Millisecond) // the last callbacks finish their bookkeeping
	cpu1, err := s.CPU()
	if err != nil {
		return nil, err
	}
	minio1, _ := procCPU(e.MinioPID)
	self1 := selfCPU()
	busy1, _ := machineBusy()
	end := time.Now()
	rss, err := s.PeakRSS()
	if err != nil {
		return nil, err
	}
	if d.accepted() != n {
		return nil, fmt.Errorf("%d of %d photos accepted (status %v)\n%s", d.accepted(), n, d.Status, s.Tail(10))
	}
	lat := d.latencies()
	wall := last.Sub(d.Start)
	return &loadRun{
		Photos: n, Wall: wall,
		PhotosPerSec:  float64(n) / wall.Seconds(),
		AcksPerSec:    float64(n) / d.End.Sub(d.Start).Seconds(),
		CPUPerPhoto:   (cpu1 - cpu0) / time.Duration(n),
		MinioPerPhoto: (minio1 - minio0) / time.Duration(n),
		BenchPerPhoto: (self1 - self0) / time.Duration(n),
		PeakRSS:       rss,
		Errors5xx:     d.count5xx(),
		AckP50:        quantile(lat, 0.5),
		AckP99:        quantile(lat, 0.99),
		Others:        max(0, float64((busy1-busy0)-(cpu1-cpu0)-(minio1-minio0)-(self1-self0))/float64(end.Sub(d.Start))),
	}, nil
}

// bigPhotoGrowth measures how much a photo of `size` bytes raises the peak
// RSS of a warmed-up serve.
func bigPhotoGrowth(e *Env, big []byte, vars map[string]string) (before, after int64, err error) {
	s, err := e.StartServe(ServeConfig{Vars: vars})
	if err != nil {
		return 0, 0, err
	}
	defer s.Stop()
	if err := s.WaitReady(10 * time.Second); err != nil {
		return 0, 0, err
	}
	for i := 0; i < 8; i++ {
		if _, err := e.SendOne(s, e.NewPhoto(e.NewChat(), e.Photo), 30*time.Second); err != nil {
			return 0, 0, err
		}
	}
	time.Sleep(100 * time.Millisecond)
	if before, err = s.PeakRSS(); err != nil {
		return 0, 0, err
	}
	if _, err := e.SendOne(s, e.NewPhoto(e.NewChat(), big), 60*time.Second); err != nil {
		return 0, 0, err
	}
	// The model read the whole photo back from the bucket.
	if ps := e.RP.Predictions(); len(ps) == 0 || len(ps[len(ps)-1].Fetched) != len(big) {
		return 0, 0, fmt.Errorf("the big photo did not reach the bucket whole")
	}
	time.Sleep(100 * time.Millisecond)
	after, err = s.PeakRSS()
	return before, after, err
}

// pluginRun is one run of the packaged-function test (yc/plugin_test.go):
// both zips built as shipped and loaded by a host as the runtime does.
type pluginRun struct {
	LoadHandler, LoadCallback time.Duration // plugin.Open + Lookup
	FirstEvent                time.Duration // first photo event handled (instance setup done on an earlier event)
}

var (
	pluginLoadRe  = regexp.MustCompile(`(fn-\w+): plugin loaded in ([0-9.]+) ms`)
	pluginFirstRe = regexp.MustCompile(`first photo event handled in (\S+)`)
)

// pluginFunction runs `go test -run TestPackagedFunctions -v ./yc` and reads
// the times it logs.
func pluginFunction(e *Env) (*pluginRun, error) {
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestPackagedFunctions$", "-v", "./yc")
	cmd.Dir = e.Root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test ./yc: %v\n%s", err, out)
	}
	r := &pluginRun{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := pluginLoadRe.FindStringSubmatch(sc.Text()); m != nil {
			ms, _ := strconv.ParseFloat(m[2], 64)
			d := time.Duration(ms * float64(time.Millisecond))
			// The first instances (the test starts others later).
			switch {
			case m[1] == "fn-handler" && r.LoadHandler == 0:
				r.LoadHandler = d
			case m[1] == "fn-callback" && r.LoadCallback == 0:
				r.LoadCallback = d
			}
		}
		if m := pluginFirstRe.FindStringSubmatch(sc.Text()); m != nil {
			r.FirstEvent, _ = time.ParseDuration(m[1])
		}
	}
	if r.LoadHandler == 0 || r.FirstEvent == 0 {
		return nil, fmt.Errorf("go test ./yc did not log the plugin times:\n%s", out)
	}
	return r, nil
}
