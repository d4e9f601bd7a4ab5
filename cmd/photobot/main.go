// Command photobot is a Telegram bot that processes photos with a Replicate
// model. See README.md.
//
//	photobot serve   both webhooks over HTTP on $PORT
//	photobot run     the bot on this machine: long polling, no public URL
//	photobot setup   prepare the bucket and the Telegram webhook
//	photobot doctor  check a deployment
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/longpoll"
)

const usage = `photobot: a Telegram bot that processes photos with a Replicate model.

Usage:
  photobot serve   serve both webhooks over HTTP on $PORT (what the cloud functions run)
  photobot run     run the bot here: long polling, no public URL, storage in $DATA_DIR or $S3_BUCKET
  photobot setup   prepare the bucket (lifecycle, conditional writes) and set the Telegram webhook
  photobot doctor  check a deployment: configuration, bucket, webhook, tokens, model (OK/WARN/FAIL)

Configuration comes from environment variables: see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "photobot:", err)
		os.Exit(1)
	}
}

// Main runs one command; the tests call it as the binary would be called.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	var mode config.Mode
	switch args[0] {
	case "serve":
		mode = config.Serve
	case "run":
		mode = config.Run
	case "setup":
		mode = config.Setup
	case "doctor":
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if !admin.Doctor(dctx, getenv, stdout) {
			return errors.New("doctor found problems")
		}
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	cfg, err := config.Load(getenv, mode)
	if err != nil {
		return err
	}
	log := app.Logger(stderr, cfg.LogLevel)
	b, err := app.New(cfg, log, mode)
	if err != nil {
		return err
	}
	switch mode {
	case config.Serve:
		return b.Serve(ctx)
	case config.Run:
		if cfg.S3Bucket == "" {
			log.Info("storing photos and tasks in a local directory", "dir", cfg.DataDir)
		}
		r := &longpoll.Runner{Bot: b.Bot, Telegram: b.Telegram, Replicate: b.Replicate, Log: log}
		return r.Run(ctx)
	default:
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return admin.Setup(sctx, b, stdout)
	}
}
