package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
)

// profiledServe is `photobot serve` with the CPU and heap profilers on:
// the bench binary runs it as its own child (argument serveProfiledArg)
// for -cpuprofile, since the photobot binary has no profiling endpoint.
// It runs the same app.Bot.Serve as cmd/photobot's serve; the profiles
// are written on SIGTERM.
const serveProfiledArg = "__serve_profiled"

func profiledServe() error {
	cfg, err := config.Load(os.Getenv, config.Serve)
	if err != nil {
		return err
	}
	log := app.Logger(os.Stderr, cfg.LogLevel)
	b, err := app.New(cfg, log, config.Serve)
	if err != nil {
		return err
	}
	b.TrustResultOriginsForTests(strings.Split(os.Getenv("PHOTOBOT_FAKE_RESULT_ORIGINS"), ",")...)
	cpu, err := os.Create(os.Getenv("BENCH_CPUPROFILE"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = b.Serve(ctx)
	pprof.StopCPUProfile()
	if cerr := cpu.Close(); err == nil {
		err = cerr
	}
	if p := os.Getenv("BENCH_MEMPROFILE"); p != "" {
		f, ferr := os.Create(p)
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		defer f.Close()
		err = errors.Join(err, pprof.Lookup("allocs").WriteTo(f, 0))
	}
	return err
}

// profileLoad runs one load measurement against a profiled serve and
// writes its CPU profile to cpuFile (and the allocations to cpuFile+".allocs").
func profileLoad(e *Env, n int, cpuFile string, vars map[string]string) (*loadRun, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	v := map[string]string{"BENCH_CPUPROFILE": cpuFile, "BENCH_MEMPROFILE": cpuFile + ".allocs"}
	for k, val := range vars {
		v[k] = val
	}
	r, err := underLoadWith(e, n, concurrent, ServeConfig{Command: []string{exe, serveProfiledArg}, Vars: v})
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cpuFile); err != nil {
		return nil, fmt.Errorf("no profile written: %w", err)
	}
	return r, nil
}
