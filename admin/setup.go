// Package admin holds the operator's commands: setup prepares the cloud
// side, doctor checks it. Both print one line per step.
package admin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/photobot/photobot/app"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/pipeline"
	"github.com/photobot/photobot/s3store"
)

// Setup prepares a deployment, idempotently: bucket reachable, lifecycle
// rules, conditional writes honoured, Telegram webhook set, Replicate token
// and model checked. It stops at the first step that fails.
func Setup(ctx context.Context, b *app.Bot, w io.Writer) error {
	cfg := b.Config
	step := func(name string, f func() (string, error)) error {
		msg, err := f()
		if err != nil {
			fmt.Fprintf(w, "FAIL  %s: %v\n", name, err)
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(w, "ok    %s: %s\n", name, msg)
		return nil
	}
	steps := []struct {
		name string
		f    func() (string, error)
	}{
		{"bucket", func() (string, error) {
			if err := b.S3.CheckBucket(ctx); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s at %s is reachable", cfg.S3Bucket, cfg.S3Endpoint), nil
		}},
		{"lifecycle", func() (string, error) {
			if err := b.S3.PutLifecycle(ctx, lifecycleRules()); err != nil {
				return "", err
			}
			var parts []string
			for _, r := range pipeline.LifecycleRules {
				parts = append(parts, fmt.Sprintf("%s after %dd", r.Prefix, r.Days))
			}
			return "expire " + strings.Join(parts, ", "), nil
		}},
		{"conditional writes", func() (string, error) {
			if err := b.S3.CheckConditionalWrites(ctx); err != nil {
				return "", err
			}
			return "If-None-Match: * is honoured (second create answered 412)", nil
		}},
		{"replicate", func() (string, error) { return checkReplicate(ctx, b) }},
		{"telegram bot", func() (string, error) {
			me, err := b.Telegram.GetMe(ctx)
			if err != nil {
				return "", fmt.Errorf("token refused: %w", err)
			}
			return "@" + me.Username, nil
		}},
		{"telegram commands", func() (string, error) {
			for lang, cmds := range b.Commands() {
				var list []models.BotCommand
				for _, c := range cmds {
					list = append(list, models.BotCommand{Command: c.Command, Description: c.Description})
				}
				if err := b.Telegram.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: list, LanguageCode: lang}); err != nil {
					return "", err
				}
			}
			return "/start and /help, in English and Russian", nil
		}},
		{"telegram webhook", func() (string, error) {
			url := cfg.PublicURL + httpapi.TelegramPath
			err := b.Telegram.SetWebhook(ctx, &bot.SetWebhookParams{URL: url, SecretToken: cfg.TelegramWebhookSecret,
				AllowedUpdates: []string{"message"}})
			if err != nil {
				return "", err
			}
			return "set to " + url + " with a secret token, updates: message", nil
		}},
	}
	for _, s := range steps {
		if err := step(s.name, s.f); err != nil {
			return err
		}
	}
	return nil
}

func lifecycleRules() []s3store.LifecycleRule {
	var rules []s3store.LifecycleRule
	for _, r := range pipeline.LifecycleRules {
		rules = append(rules, s3store.LifecycleRule{ID: r.ID, Prefix: r.Prefix, Days: r.Days})
	}
	return rules
}

// checkReplicate checks the token and, for a named model, that it exists
// and takes the configured image input.
func checkReplicate(ctx context.Context, b *app.Bot) (string, error) {
	acct, err := b.Replicate.Account(ctx)
	if err != nil {
		return "", fmt.Errorf("token refused: %w", err)
	}
	m := b.Config.Model
	info, err := b.Replicate.GetModel(ctx, m)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", m, err)
	}
	if info == nil {
		return fmt.Sprintf("token of %s; version %s not checked (give owner/name:version to check it)", acct.Username, m.Short()), nil
	}
	names := info.InputNames()
	if len(names) > 0 && !slices.Contains(names, b.Config.ImageField) {
		slices.Sort(names)
		return "", fmt.Errorf("model %s has no input %q (REPLICATE_IMAGE_FIELD); its inputs: %s",
			m.Short(), b.Config.ImageField, strings.Join(names, ", "))
	}
	return fmt.Sprintf("token of %s; model %s takes %q", acct.Username, m.Short(), b.Config.ImageField), nil
}
