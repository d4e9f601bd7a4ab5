package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/photobot/photobot/config"
)

// checkAccess says in one line who may use the bot: a bot open to
// everyone spends the operator's Replicate credit on strangers, unless
// they pay for it in Stars (PRICE_STARS).
func checkAccess(r *report, cfg *config.Config) {
	allowed, admins := cfg.AllowedList, cfg.AdminList
	switch {
	case len(allowed) == 0 && cfg.Payments.PriceStars > 0:
		r.ok("access", "everyone, paying: "+payments(cfg))
	case len(allowed) == 0:
		r.warn("access", fmt.Sprintf("everyone: anyone who finds the bot spends your Replicate credit (up to %s a day each)", dailyLimit(cfg)),
			"set ALLOWED_USERS to the ids (or @usernames) of those who may use it, or PRICE_STARS to make them pay in Telegram Stars")
	case isSubset(allowed, admins):
		r.ok("access", "admins only ("+strings.Join(allowed, ", ")+")")
	default:
		line := fmt.Sprintf("allowed: %d %s (%s)", len(allowed), plural(len(allowed), "user", "users"), strings.Join(allowed, ", "))
		if cfg.Payments.PriceStars > 0 {
			line += ", paying: " + payments(cfg)
		}
		r.ok("access", line)
	}
}

// payments says what a user pays: the price, the free photos, who is exempt.
func payments(cfg *config.Config) string {
	p := cfg.Payments
	s := fmt.Sprintf("%d %s a photo", p.PriceStars, plural(p.PriceStars, "Star", "Stars"))
	if p.FreePerDay > 0 {
		s += fmt.Sprintf(" after %d free a day", p.FreePerDay)
	}
	s += fmt.Sprintf(", up to %s a day each", dailyLimit(cfg))
	if len(cfg.AdminList) > 0 {
		s += "; admins free"
	}
	return s
}

func dailyLimit(cfg *config.Config) string {
	if cfg.DailyLimit == 0 {
		return "unlimited photos"
	}
	return fmt.Sprintf("%d %s", cfg.DailyLimit, plural(cfg.DailyLimit, "photo", "photos"))
}

func isSubset(list, of []string) bool {
	for _, v := range list {
		if !slices.ContainsFunc(of, func(o string) bool { return strings.EqualFold(o, v) }) {
			return false
		}
	}
	return true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// usernames are the @names of ADMIN_USERS and ALLOWED_USERS, admins first,
// each once, without the @.
func usernames(cfg *config.Config) (names []string, admin map[string]bool) {
	admin = map[string]bool{}
	for i, list := range [][]string{cfg.AdminList, cfg.AllowedList} {
		for _, e := range list {
			name, ok := strings.CutPrefix(e, "@")
			if !ok || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
				continue
			}
			names = append(names, name)
			admin[name] = i == 0
		}
	}
	return names, admin
}

// checkUsernames tries to turn each @name of the access lists into the id
// it names now. A username can be released and taken by someone else, who
// would then be let in (or, in ADMIN_USERS, exempt from the limits); an id
// cannot change hands. The Bot API tells ids only of public chats, so for
// most users it cannot: the line says so, and where the id shows up.
func checkUsernames(ctx context.Context, r *report, tg BotAPI, cfg *config.Config) {
	names, admin := usernames(cfg)
	for _, name := range names {
		list := "ALLOWED_USERS"
		if admin[name] {
			list = "ADMIN_USERS"
		}
		check := "username @" + name
		id, private, err := tg.LookUpUsername(ctx, name)
		switch {
		case err == nil && !private:
			r.warn(check, fmt.Sprintf("in %s is a channel or group (id %d), not a user: it lets no one in", list, id),
				"remove it, or put the user's numeric id there")
			continue
		case err == nil:
			r.line(levelOf(admin[name]), check, fmt.Sprintf("in %s is user %d now", list, id),
				fmt.Sprintf("put %d in %s instead of @%s: a username can change hands, an id cannot", id, list, name))
		default:
			r.line(levelOf(admin[name]), check, fmt.Sprintf("in %s cannot be looked up: Telegram tells the ids of public chats only", list),
				fmt.Sprintf("the log shows the id (user_id) when @%s writes to the bot; put it in %s instead: a username can change hands, an id cannot", name, list))
		}
	}
}

// levelOf: a username among the admins is a warning (whoever takes the
// name over escapes the limits); among the allowed, a note.
func levelOf(admin bool) string {
	if admin {
		return "WARN"
	}
	return "OK"
}
