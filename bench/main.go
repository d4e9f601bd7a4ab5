// Command bench measures photobot against its performance targets and runs
// its load test. It builds ./cmd/photobot, starts a real MinIO and the
// fakes of Telegram and Replicate (internal/fake) in this process, runs
// `photobot serve` as a child process pointed at them, and measures it
// from the outside, as a platform would.
//
//	go run ./bench                 the targets: a table of metric | value | target | ok
//	go run ./bench -load           1000 photos from 100 chats, 32 at a time, checked
//	go run ./bench -load -photos 100 -chats 20
//
// The measurements need Linux (/proc) and take about a minute; `make bench`
// and `make load` run it. See the Performance section of README.md.
package main

import (
	"debug/buildinfo"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveProfiledArg {
		if err := profiledServe(); err != nil {
			fmt.Fprintln(os.Stderr, "bench serve:", err)
			os.Exit(1)
		}
		return
	}
	var (
		load        = flag.Bool("load", false, "run the load test instead of the measurements")
		photos      = flag.Int("photos", 1000, "load: photos to send")
		chats       = flag.Int("chats", 100, "load: chats they come from")
		concurrency = flag.Int("concurrency", 32, "load: updates in flight at once")
		modelTime   = flag.Duration("model-time", 2*time.Second, "load: the model takes a random time below this")
		dupRate     = flag.Float64("dup", 0.05, "load: share of predictions whose webhook comes twice")
		earlyRate   = flag.Float64("early", 0.05, "load: share of predictions whose webhook comes before the create answer")
		seed        = flag.Uint64("seed", uint64(time.Now().UnixNano()), "load: random seed")
		runs        = flag.Int("runs", 3, "measurements: runs of each load measurement (medians are reported)")
		loadPhotos  = flag.Int("n", 600, "measurements: photos per throughput run")
		plugin      = flag.Bool("plugin", true, "measurements: also time the packaged function (builds the plugins with Go 1.23.9)")
		vars        = flag.String("env", "", "extra variables for serve, comma-separated K=V (e.g. MAX_ACTIVE_PER_USER=0)")
		strict      = flag.Bool("strict", false, "measurements: exit 1 when a target is missed")
		cpuprofile  = flag.String("cpuprofile", "", "instead of the measurements: one load run against serve with the CPU profiler on; write the profile here (allocations to FILE.allocs)")
		only        = flag.String("only", "", "measurements: only these, comma-separated: cold, rt, load, big, plugin")
		dir         = flag.String("dir", defaultDir(), "where MinIO keeps its data (tmpfs by default, so that this machine's disk is not measured)")
	)
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("bench: ")

	extra := map[string]string{}
	for _, kv := range strings.Split(*vars, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			extra[k] = v
		}
	}
	ok, err := run(*dir, func(e *Env) (bool, error) {
		if *cpuprofile != "" {
			r, err := profileLoad(e, *loadPhotos, *cpuprofile, extra)
			if err != nil {
				return false, err
			}
			fmt.Printf("%d photos, %d at a time: serve %.2f ms CPU/photo, %.1f photos/s; profile in %s (allocations in %s.allocs)\n"+
				"  go tool pprof -top %s\n", r.Photos, concurrent, msf(r.CPUPerPhoto), r.PhotosPerSec, *cpuprofile, *cpuprofile, *cpuprofile)
			return true, nil
		}
		if *load {
			r, err := RunLoad(e, LoadConfig{Photos: *photos, Chats: *chats, Concurrency: *concurrency,
				MaxModelTime: *modelTime, DupRate: *dupRate, EarlyRate: *earlyRate, Seed: *seed, Vars: extra})
			if err != nil {
				return false, err
			}
			fmt.Printf("seed %d\n%s", *seed, r)
			return r.OK(), nil
		}
		sel := map[string]bool{}
		for _, m := range strings.Split(*only, ",") {
			if m = strings.TrimSpace(m); m != "" {
				sel[m] = true
			}
		}
		met, err := measure(e, os.Stdout, measureConfig{runs: *runs, photos: *loadPhotos, plugin: *plugin, vars: extra, only: sel})
		return met || !*strict, err
	})
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run gives f an Env, with MinIO's data in a private directory under
// dataParent, and cleans up (the fakes, MinIO, the serve processes, the
// directories) afterwards.
func run(dataParent string, f func(*Env) (bool, error)) (ok bool, err error) {
	work, err := os.MkdirTemp("", "photobot-bench-") // the binary and the logs
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(work)
	data, err := os.MkdirTemp(dataParent, "photobot-bench-minio-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(data)
	tb := &commandTB{}
	defer func() {
		tb.close()
		// miniotest stops its server only from TestMain: stop it here.
		if pid := childPID("minio"); pid > 0 {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
				_, _ = p.Wait()
			}
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			fe, isFatal := v.(fatalError)
			if !isFatal {
				panic(v)
			}
			ok, err = false, fe
		}
	}()
	e, err := NewEnv(tb, work, data)
	if err != nil {
		return false, err
	}
	return f(e)
}

// defaultDir is /dev/shm when it exists: MinIO on a RAM disk, so that the
// measurements are of photobot and not of this machine's disk.
func defaultDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

type measureConfig struct {
	runs, photos int
	plugin       bool
	vars         map[string]string
	only         map[string]bool // metrics to measure; empty: all
}

// Targets.
const (
	targetColdStart = 15 * time.Millisecond
	rtDelay         = 25 * time.Millisecond
	targetRoundTrip = 5.3
	targetCPU       = 2500 * time.Microsecond
	targetRSS       = 25 << 20
	targetBigGrowth = 8 << 20
	targetRate      = 150.0
	concurrent      = 16
)

// measure runs the measurements, prints the table and what explains it to
// out, and reports whether every target was met.
func measure(e *Env, out io.Writer, c measureConfig) (bool, error) {
	start := time.Now()
	goVersion := runtime.Version()
	if bi, err := buildinfo.ReadFile(e.Bin); err == nil {
		goVersion = bi.GoVersion
	}
	log.Printf("photobot built with %s; MinIO pid %d; load average %s", goVersion, e.MinioPID, loadAvg())
	if la, err := strconv.ParseFloat(loadAvg(), 64); err == nil && la > 1 {
		log.Printf("warning: the load average is %.2f: other work on this machine will skew the figures", la)
	}
	on := func(name string) bool { return len(c.only) == 0 || c.only[name] }

	var cold, listening []time.Duration
	if on("cold") {
		log.Print("cold start: 9 fresh processes")
		var err error
		if cold, listening, err = coldStart(e, 9, c.vars); err != nil {
			return false, fmt.Errorf("cold start: %w", err)
		}
	}

	var acks, base []time.Duration
	var counts map[string]float64
	if on("rt") {
		log.Printf("round trips: 3 + 20 photos, one at a time, through proxies adding nothing, then %v to every request", rtDelay)
		var err error
		if acks, base, counts, err = ackWithLatency(e, rtDelay, 3, 20, c.vars); err != nil {
			return false, fmt.Errorf("round trips: %w", err)
		}
	}

	var loads []*loadRun
	for i := 0; on("load") && i < c.runs; i++ {
		log.Printf("load run %d/%d: %d photos, %d at a time", i+1, c.runs, c.photos, concurrent)
		r, err := underLoad(e, c.photos, concurrent, c.vars)
		if err != nil {
			return false, fmt.Errorf("load: %w", err)
		}
		log.Printf("  %.1f photos/s, %.1f acks/s, serve %.2f ms/photo CPU, MinIO %.2f, bench %.2f; peak RSS %.1f MiB; ack p50 %v p99 %v; 5xx %d; other processes %.2f CPUs",
			r.PhotosPerSec, r.AcksPerSec, msf(r.CPUPerPhoto), msf(r.MinioPerPhoto), msf(r.BenchPerPhoto), mib(r.PeakRSS),
			ms(r.AckP50), ms(r.AckP99), r.Errors5xx, r.Others)
		loads = append(loads, r)
	}

	var growth []int64
	if on("big") {
		big := bigPhoto(15 << 20)
		for i := 0; i < c.runs; i++ {
			log.Printf("15 MB photo %d/%d", i+1, c.runs)
			before, after, err := bigPhotoGrowth(e, big, c.vars)
			if err != nil {
				return false, fmt.Errorf("big photo: %w", err)
			}
			log.Printf("  peak RSS %.1f MiB -> %.1f MiB", mib(before), mib(after))
			growth = append(growth, max(0, after-before)) // VmHWM is approximate (per-thread RSS counters): no negative growth
		}
	}

	var plugins []*pluginRun
	for i := 0; c.plugin && on("plugin") && i < c.runs; i++ {
		log.Printf("packaged function %d/%d (go test ./yc)", i+1, c.runs)
		p, err := pluginFunction(e)
		if err != nil {
			return false, fmt.Errorf("packaged function: %w", err)
		}
		log.Printf("  plugin loaded in %v / %v, first photo event %v", p.LoadHandler, p.LoadCallback, p.FirstEvent)
		plugins = append(plugins, p)
	}

	// The table.
	fmt.Fprintf(out, "\nphotobot built with %s, %s, %d CPUs, %s/%s; %s\n\n", goVersion, time.Now().Format("2006-01-02"), runtime.NumCPU(),
		runtime.GOOS, runtime.GOARCH, describeVars(c.vars))
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "metric\tvalue\ttarget\tok")
	fmt.Fprintln(tw, "---\t---\t---\t---")
	all := true
	row := func(metric, value, target string, ok bool) {
		all = all && ok
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", metric, value, target, yes(ok))
	}
	if len(cold) > 0 {
		m := median(cold)
		row(fmt.Sprintf("cold start to first photo handled (median of %d)", len(cold)),
			fmt.Sprintf("%.1f ms", msf(m)), "<= 15 ms", m <= targetColdStart)
	}
	if len(acks) > 0 {
		m := median(acks)
		rts := float64(m) / float64(rtDelay)
		row(fmt.Sprintf("webhook answer, +25 ms per request (median of %d)", len(acks)),
			fmt.Sprintf("%.1f ms = %.2f x 25 ms", msf(m), rts), "<= 132.5 ms (5.3 x 25 ms)", rts <= targetRoundTrip)
	}
	if len(loads) > 0 {
		pick := func(f func(*loadRun) float64) float64 {
			v := make([]float64, len(loads))
			for i, r := range loads {
				v[i] = f(r)
			}
			return median(v)
		}
		cpu := pick(func(r *loadRun) float64 { return msf(r.CPUPerPhoto) })
		rss := pick(func(r *loadRun) float64 { return float64(r.PeakRSS) })
		rate := pick(func(r *loadRun) float64 { return r.PhotosPerSec })
		errs := 0
		for _, r := range loads {
			errs += r.Errors5xx
		}
		row(fmt.Sprintf("CPU per photo, both webhooks, %d concurrent (median of %d)", concurrent, len(loads)),
			fmt.Sprintf("%.2f ms", cpu), "<= 2.5 ms", cpu <= msf(targetCPU))
		row(fmt.Sprintf("peak RSS of serve under that load (median of %d)", len(loads)),
			fmt.Sprintf("%.1f MiB", rss/(1<<20)), "<= 25 MiB", rss <= targetRSS)
		row(fmt.Sprintf("throughput, %d concurrent, to the last result (median of %d)", concurrent, len(loads)),
			fmt.Sprintf("%.0f photos/s, %d 5xx", rate, errs), ">= 150 photos/s, no 5xx", rate >= targetRate && errs == 0)
	}
	if len(growth) > 0 {
		m := median(growth)
		row(fmt.Sprintf("peak RSS growth for a 15 MB photo (median of %d)", len(growth)),
			fmt.Sprintf("%.1f MiB", mib(m)), "<= 8 MiB", m <= targetBigGrowth)
	}
	if len(plugins) > 0 {
		var load, first, total []time.Duration
		for _, p := range plugins {
			load = append(load, p.LoadHandler)
			first = append(first, p.FirstEvent)
			total = append(total, p.LoadHandler+p.FirstEvent)
		}
		fmt.Fprintf(tw, "packaged function: plugin load + first photo event (median of %d)\t%.1f + %.1f = %.1f ms\t(reported)\t-\n",
			len(plugins), msf(median(load)), msf(median(first)), msf(median(total)))
	}
	tw.Flush()

	// What explains the numbers.
	fmt.Fprintln(out)
	if len(cold) > 0 {
		fmt.Fprintf(out, "cold start: %s; listening after %s (median %.1f ms)\n", durList(cold), durList(listening), msf(median(listening)))
	}
	if len(acks) > 0 {
		m, b := median(acks), median(base)
		fmt.Fprintf(out, "answers with +25 ms: %s\n", durList(acks))
		fmt.Fprintf(out, "answers through the same proxies adding nothing: median %.1f ms; (%.1f - %.1f) / 25 = %.2f round trips waited for one after the other\n",
			msf(b), msf(m), msf(b), float64(m-b)/float64(rtDelay))
		fmt.Fprintf(out, "requests per photo (both webhooks): Telegram %.1f, Replicate %.1f, S3 %.1f (the model's read of the photo included)\n",
			counts["telegram"], counts["replicate"], counts["s3"])
		fmt.Fprintf(out, "time to answer one request, without delay: fake Telegram %.2f ms, fake Replicate %.2f ms, MinIO %.2f ms\n",
			counts["telegram ms"]/counts["telegram n"], counts["replicate ms"]/counts["replicate n"], counts["s3 ms"]/counts["s3 n"])
		fmt.Fprintf(out, "function run times with +25 ms per request (serve's log, median): fn-handler %.1f ms, fn-callback %.1f ms\n",
			counts["handler ms"], counts["callback ms"])
	}
	for i, r := range loads {
		fmt.Fprintf(out, "load run %d: %d photos in %v: %.1f photos/s (answers %.1f/s, p50 %s, p99 %s); CPU ms/photo: serve %.2f, MinIO %.2f, bench (fakes+driver) %.2f; peak RSS %.1f MiB; %d 5xx; other processes used %.2f CPUs\n",
			i+1, r.Photos, r.Wall.Round(time.Millisecond), r.PhotosPerSec, r.AcksPerSec, ms(r.AckP50), ms(r.AckP99),
			msf(r.CPUPerPhoto), msf(r.MinioPerPhoto), msf(r.BenchPerPhoto), mib(r.PeakRSS), r.Errors5xx, r.Others)
	}
	if len(growth) > 0 {
		var g []string
		for _, v := range growth {
			g = append(g, fmt.Sprintf("%.1f", mib(v)))
		}
		fmt.Fprintf(out, "15 MB photo, peak RSS growth (MiB): %s\n", strings.Join(g, ", "))
	}
	for i, p := range plugins {
		fmt.Fprintf(out, "packaged function run %d: fn-handler loaded in %.1f ms, fn-callback in %.1f ms, first photo event %.1f ms\n",
			i+1, msf(p.LoadHandler), msf(p.LoadCallback), msf(p.FirstEvent))
	}
	fmt.Fprintf(out, "total time %v; load average now %s (other work on the machine skews every figure)\n", time.Since(start).Round(time.Second), loadAvg())
	return all, nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func durList(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.1f", msf(d)))
	}
	return strings.Join(s, ", ") + " ms"
}

func describeVars(v map[string]string) string {
	if len(v) == 0 {
		return "default configuration"
	}
	var s []string
	for k, val := range v {
		s = append(s, k+"="+val)
	}
	sort.Strings(s)
	return "with " + strings.Join(s, " ")
}
