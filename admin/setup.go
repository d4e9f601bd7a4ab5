package admin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/telegram"
)

// Setup prepares a deployment, idempotently: the bucket reachable, its
// lifecycle rules, conditional writes honoured, the Replicate token and
// every effect's model checked, the bot token checked, the command menu,
// the Telegram webhook. It stops at the first step that fails; the error
// it returns only names that step (the report said why).
func Setup(ctx context.Context, b *app.Bot, w io.Writer) error {
	cfg := b.Config
	r := &report{w: w}
	stop := func(step string) error { return fmt.Errorf("setup stopped at %s (see above)", step) }
	if !checkStore(ctx, r, b.S3, cfg, true) {
		return stop("the bucket")
	}
	if !checkReplicate(ctx, r, b.Replicate, cfg) {
		return stop("Replicate")
	}
	if _, ok := checkBot(ctx, r, b.Telegram, cfg.TelegramAPIURL); !ok {
		return stop("the bot token")
	}
	langs := 0
	for lang, cmds := range b.Commands() {
		var list []models.BotCommand
		for _, c := range cmds {
			list = append(list, models.BotCommand{Command: c.Command, Description: c.Description})
		}
		if err := b.Telegram.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: list, LanguageCode: lang}); err != nil {
			r.fail("telegram commands", err.Error(), telegramHint(err, cfg.TelegramAPIURL))
			return stop("the command menu")
		}
		langs = len(cmds)
	}
	r.ok("telegram commands", fmt.Sprintf("%d commands, in English and Russian", langs))
	url := cfg.PublicURL + httpapi.TelegramPath
	err := b.Telegram.SetWebhook(ctx, &bot.SetWebhookParams{URL: url, SecretToken: cfg.TelegramWebhookSecret,
		AllowedUpdates: telegram.AllowedUpdates})
	if err != nil {
		r.fail("telegram webhook", err.Error(), telegramHint(err, cfg.TelegramAPIURL))
		return stop("the webhook")
	}
	r.ok("telegram webhook", "set to "+url+" with a secret token, updates: "+strings.Join(telegram.AllowedUpdates, ", "))
	return nil
}
