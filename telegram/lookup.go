package telegram

import (
	"context"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// LookUpUsername asks the Bot API which chat an @username names now
// (getChat with "@name"). Telegram answers for public channels and
// groups; for a private user it usually answers 400 "chat not found",
// whether or not the user exists: their id is learnt when they write.
// private reports whether the chat found is a user's.
func (c *Client) LookUpUsername(ctx context.Context, username string) (id int64, private bool, err error) {
	var chat *models.ChatFullInfo
	err = c.do(ctx, "getChat", func(ctx context.Context) (err error) {
		chat, err = c.api.GetChat(ctx, &bot.GetChatParams{ChatID: "@" + username})
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return chat.ID, chat.Type == models.ChatTypePrivate, nil
}
