package admin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/telegram"
)

// Setup prepares a deployment, idempotently: the bucket reachable, its
// lifecycle rules, conditional writes honoured, the Replicate token and
// every effect's model checked, the bot token checked (and the access
// lists' @usernames looked up), the command menu, the Telegram webhook.
// It stops at the first step that fails; the error it returns only names
// that step (the report said why).
func Setup(ctx context.Context, d Deployment, w io.Writer) error {
	s := d.Services()
	cfg := s.Config
	r := &report{w: w}
	stop := func(step string) error { return fmt.Errorf("setup stopped at %s (see above)", step) }
	if s.Bucket == nil {
		r.fail("bucket", "none configured", "set S3_BUCKET and its keys: a deployment keeps its state in a bucket")
		return stop("the bucket")
	}
	if !checkStore(ctx, r, s.Bucket, cfg, true) {
		return stop("the bucket")
	}
	if !checkReplicate(ctx, r, s.Replicate, cfg) {
		return stop("Replicate")
	}
	if _, _, ok := checkBot(ctx, r, s.Telegram, cfg.TelegramAPIURL); !ok {
		return stop("the bot token")
	}
	checkAccess(r, cfg)
	checkUsernames(ctx, r, s.Telegram, cfg)
	if err := setCommands(ctx, r, d); err != nil {
		return stop("the command menu")
	}
	url := cfg.PublicURL + httpapi.TelegramPath
	err := s.Telegram.SetWebhook(ctx, &bot.SetWebhookParams{URL: url, SecretToken: cfg.TelegramWebhookSecret,
		AllowedUpdates: telegram.AllowedUpdates})
	if err != nil {
		r.fail("telegram webhook", err.Error(), telegramHint(err, cfg.TelegramAPIURL))
		return stop("the webhook")
	}
	r.ok("telegram webhook", "set to "+url+" with a secret token, updates: "+strings.Join(telegram.AllowedUpdates, ", "))
	return nil
}

// setCommands registers the command menu in every language the bot
// speaks.
func setCommands(ctx context.Context, r *report, d Deployment) error {
	s := d.Services()
	n := 0
	for lang, cmds := range d.Commands() {
		var list []models.BotCommand
		for _, c := range cmds {
			list = append(list, models.BotCommand{Command: c.Command, Description: c.Description})
		}
		if err := s.Telegram.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: list, LanguageCode: lang}); err != nil {
			r.fail("telegram commands", err.Error(), telegramHint(err, s.Config.TelegramAPIURL))
			return err
		}
		n = len(cmds)
	}
	r.ok("telegram commands", fmt.Sprintf("%d commands, in English and Russian", n))
	return nil
}
