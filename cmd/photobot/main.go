// Command photobot is a Telegram bot that processes photos with Replicate
// models. See README.md, or `photobot -h` and `photobot <command> -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/longpoll"
)

const usage = `photobot: a Telegram bot that processes photos with Replicate models.
Each photo is billed to your Replicate account.

Usage:
  photobot run      run the bot on this machine: long polling, no public URL needed
  photobot serve    serve both webhooks over HTTP on $PORT (what the cloud functions run)
  photobot setup    prepare a deployment: the bucket, the command menu, the Telegram webhook
  photobot doctor   check a deployment, the local bot, or the tokens before a deploy

Configuration comes from environment variables; "photobot <command> -h" lists
those the command reads. The README has the whole story.
`

var commands = map[string]struct {
	mode  config.Mode
	about string
}{
	"run": {config.Run, `run the bot on this machine: it long-polls Telegram (no public URL
needed), polls each prediction, and keeps its state in DATA_DIR, or in
S3_BUCKET when set. It checks the bot token and every model first. Unless
ALLOWED_USERS is set it answers anyone who finds the bot, on your
Replicate account.`},
	"serve": {config.Serve, `serve both webhooks over HTTP on $PORT: POST /webhook/telegram,
POST /webhook/replicate, GET /healthz. It drains requests on SIGTERM.`},
	"setup": {config.Setup, `prepare a deployment, idempotently: the bucket is reachable, gets its
lifecycle rules and honours conditional writes; the Replicate token and
every model are checked; the bot gets its command menu and its webhook
(PUBLIC_URL, with TG_WEBHOOK_SECRET).`},
	"doctor": {config.Serve, `check, without changing anything: -mode serve a deployment (bucket,
webhook, tokens, models), -mode run the local bot, -mode preflight the
tokens and models only (what a deploy checks before it creates anything).
Without -mode: serve when S3_BUCKET or PUBLIC_URL is set, else run.`},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "photobot:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage: the command line is wrong (exit status 2, as flag's).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// Main runs one command; the tests call it as the binary would be called.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	fs := flag.NewFlagSet("photobot "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dropWebhook, mode := new(bool), new(string)
	switch name {
	case "run":
		fs.BoolVar(dropWebhook, "drop-webhook", false, "delete the bot's webhook first (Telegram refuses long polling while one is set)")
	case "doctor":
		fs.StringVar(mode, "mode", "", "what to check: serve, run or preflight")
	}
	fs.Usage = func() { commandUsage(fs, name, cmd.about, cmd.mode) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}

	if name == "doctor" {
		m := admin.DoctorMode(getenv)
		switch *mode {
		case "":
		case "serve":
			m = config.Serve
		case "run":
			m = config.Run
		case "preflight":
			m = config.Preflight
		default:
			return fmt.Errorf("%w: -mode %q: want serve, run or preflight", errUsage, *mode)
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if !admin.Doctor(dctx, getenv, m, stdout) {
			return errors.New("doctor found problems")
		}
		return nil
	}

	cfg, err := config.Load(getenv, cmd.mode)
	if err != nil {
		return err
	}
	log := app.Logger(stderr, cfg.LogLevel)
	b, err := app.New(cfg, log, cmd.mode)
	if err != nil {
		return err
	}
	switch name {
	case "serve":
		return b.Serve(ctx)
	case "run":
		bot, err := admin.Ready(ctx, cfg, b.Telegram, b.Replicate, *dropWebhook, stderr)
		if err != nil {
			return err
		}
		where := "in " + cfg.DataDir
		if cfg.S3Bucket != "" {
			where = "in bucket " + cfg.S3Bucket
		}
		log.Info("running as @"+bot+": send it a photo", "state", where, "effects", len(cfg.Effects))
		if cfg.AllowedUsers == nil {
			log.Warn("ALLOWED_USERS is not set: the bot answers anyone who finds it, and their photos bill your Replicate account")
		}
		pending, _ := b.Store.(longpoll.Pending) // a local directory lists its tasks; a bucket does not
		r := &longpoll.Runner{Bot: b.Bot, Telegram: b.Telegram, Replicate: b.Replicate, Log: log, Tasks: pending}
		return r.Run(ctx)
	default:
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return admin.Setup(sctx, b, stdout)
	}
}

// commandUsage prints a command's usage, its flags and the variables it
// reads: someone holding only the binary has no README.
func commandUsage(fs *flag.FlagSet, name, about string, mode config.Mode) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: photobot %s [flags]\n\n%s\n", name, about)
	hasFlags := false
	fs.VisitAll(func(f *flag.Flag) {
		if !hasFlags {
			fmt.Fprintln(w, "\nFlags:")
			hasFlags = true
		}
		fmt.Fprintf(w, "  -%s\n      %s\n", f.Name, f.Usage)
	})
	fmt.Fprintln(w, "\nEnvironment (* required):")
	required := map[string]bool{}
	for _, v := range config.Required(mode) {
		required[v] = true
	}
	for _, v := range config.VarsFor(name) {
		mark, def := " ", ""
		if required[v.Name] {
			mark = "*"
		}
		if v.Default != "" {
			def = " (default " + v.Default + ")"
		}
		fmt.Fprintf(w, "  %s %-24s %s%s\n", mark, v.Name, strings.TrimSpace(v.Meaning), def)
	}
}
