// Command photobot is a Telegram bot that processes photos with Replicate
// models. See README.md, or `photobot -h` and `photobot <command> -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/photobot/photobot/admin"
	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/config"
)

const usage = `photobot: a Telegram bot that processes photos with Replicate models.
Each photo is billed to your Replicate account.

Usage:
  photobot run      run the bot on this machine: long polling, no public URL needed
  photobot serve    serve both webhooks over HTTP on $PORT (what the cloud functions run)
  photobot setup    prepare a deployment: the bucket, the command menu, the Telegram webhook
  photobot doctor   check a deployment, the local bot, or the tokens before a deploy
  photobot version  print the version and the commit it was built from

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

// usageError is a wrong command line, said in one line with where to get
// help, rather than the whole usage.
func usageError(name, format string, args ...any) error {
	return lineError(fmt.Sprintf("%s: %s (photobot %s -h shows how to call it)", name, fmt.Sprintf(format, args...), name))
}

// lineError is a usage error whose text is the whole message.
type lineError string

func (e lineError) Error() string        { return string(e) }
func (e lineError) Is(target error) bool { return target == errUsage }

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
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return nil
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	fl, err := parseFlags(name, cmd.about, cmd.mode, args[1:], stderr)
	if err != nil {
		return err
	}
	if name == "doctor" {
		return doctor(ctx, getenv, fl, stdout)
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
		return run(ctx, b, fl.dropWebhook, log, stderr)
	default:
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return admin.Setup(sctx, b, stdout)
	}
}

// flags are the command line's flags, of whichever command.
type flags struct {
	dropWebhook bool   // run
	mode        string // doctor
	offline     bool   // doctor: the configuration only, no network
}

// parseFlags reads a command's flags. -h prints the command's usage; a
// wrong flag or argument is one line that says where help is.
func parseFlags(name, about string, mode config.Mode, args []string, stderr io.Writer) (*flags, error) {
	fs := flag.NewFlagSet("photobot "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are said once, by main
	fs.Usage = func() {}
	var fl flags
	switch name {
	case "run":
		fs.BoolVar(&fl.dropWebhook, "drop-webhook", false, "delete the bot's webhook first (Telegram refuses long polling while one is set)")
	case "doctor":
		fs.StringVar(&fl.mode, "mode", "", "what to check: serve, run or preflight")
		fs.BoolVar(&fl.offline, "offline", false, "check the configuration only, with no network call (a deploy's dry run)")
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		commandUsage(stderr, fs, name, about, mode)
		return nil, err
	case err != nil:
		return nil, usageError(name, "%v", err)
	case fs.NArg() > 0:
		return nil, usageError(name, "takes no arguments, got %q", fs.Arg(0))
	}
	return &fl, nil
}

func doctor(ctx context.Context, getenv func(string) string, fl *flags, stdout io.Writer) error {
	m, flagMode := admin.DoctorMode(getenv), fl.mode
	switch flagMode {
	case "":
	case "serve":
		m = config.Serve
	case "run":
		m = config.Run
	case "preflight":
		m = config.Preflight
	default:
		return usageError("doctor", "-mode %q: want serve, run or preflight", flagMode)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	connect := app.Connect
	if fl.offline {
		// No clients, so no check that needs one: the configuration alone.
		connect = func(cfg *config.Config) admin.Services { return admin.Services{Config: cfg} }
	}
	if !admin.Doctor(dctx, getenv, m, connect, stdout) {
		return errors.New("doctor found problems")
	}
	return nil
}

// run is photobot run: every check first, then long polling.
func run(ctx context.Context, b *app.Bot, dropWebhook bool, log *slog.Logger, stderr io.Writer) error {
	s := b.Services()
	cfg := s.Config
	bot, err := admin.Ready(ctx, s, dropWebhook, stderr)
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
	return b.LongPoll().Run(ctx)
}

// version is the module's version and, when built from a git checkout,
// the commit and whether the tree had changes.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "photobot (no build information)"
	}
	out := "photobot " + info.Main.Version
	var rev, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev != "" {
		out += " commit " + rev
		if at != "" {
			out += " (" + at + ")"
		}
		if modified == "true" {
			out += " with uncommitted changes"
		}
	}
	return out + ", " + info.GoVersion
}

// commandUsage prints a command's usage, its flags and the variables it
// reads: someone holding only the binary has no README.
func commandUsage(w io.Writer, fs *flag.FlagSet, name, about string, mode config.Mode) {
	fmt.Fprintf(w, "Usage: photobot %s [flags]\n\n%s\n", name, about)
	hasFlags := false
	fs.VisitAll(func(f *flag.Flag) {
		if !hasFlags {
			fmt.Fprintln(w, "\nFlags:")
			hasFlags = true
		}
		fmt.Fprintf(w, "  -%s\n      %s\n", f.Name, f.Usage)
	})
	required := config.Required(mode)
	if name == "doctor" {
		// Its default mode is run's; a deployment needs more.
		required = config.Required(config.Run)
		var more []string
		for _, v := range config.Required(config.Serve) {
			if !slices.Contains(required, v) {
				more = append(more, v)
			}
		}
		fmt.Fprintf(w, "\n-mode serve checks a deployment and also needs %s.\n", strings.Join(more, ", "))
	}
	fmt.Fprintln(w, "\nEnvironment (* required):")
	for _, v := range config.VarsFor(name) {
		mark, def := " ", ""
		if slices.Contains(required, v.Name) {
			mark = "*"
		}
		if v.Default != "" {
			def = " (default " + v.Default + ")"
		}
		fmt.Fprintf(w, "  %s %-25s %s%s\n", mark, v.Name, strings.TrimSpace(v.Meaning), def)
	}
}
