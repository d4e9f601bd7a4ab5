package telegram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/go-telegram/bot"

	"github.com/photobot/photobot/pipeline"
)

// OpenFile opens a file a user sent (getFile, then its download) for
// reading; the caller closes body. The download URL contains the bot
// token: it never leaves this package, not even in errors.
func (c *Client) OpenFile(ctx context.Context, fileID string) (body io.ReadCloser, size int64, err error) {
	var f struct {
		FileSize int64
		FilePath string
	}
	err = c.do(ctx, "getFile", func(ctx context.Context) error {
		file, err := c.api.GetFile(ctx, &bot.GetFileParams{FileID: fileID})
		if err == nil {
			f.FileSize, f.FilePath = file.FileSize, file.FilePath
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if f.FileSize > MaxDownloadSize {
		return nil, 0, fmt.Errorf("telegram getFile: %w (%d bytes)", pipeline.ErrTooBig, f.FileSize)
	}
	return c.download(ctx, f.FilePath)
}

// download opens the file at path (from getFile).
func (c *Client) download(ctx context.Context, path string) (body io.ReadCloser, size int64, err error) {
	err = c.do(ctx, "download", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/file/bot"+c.token+"/"+path, nil)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = &url.Error{Op: ue.Op, URL: c.base + "/file/bot<token>/...", Err: ue.Err} // the URL holds the token
			}
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			code := resp.StatusCode
			if code == http.StatusNotFound || code == http.StatusBadRequest || code == http.StatusForbidden {
				return fmt.Errorf("%w, download answered %s", bot.ErrorNotFound, resp.Status)
			}
			return fmt.Errorf("download answered %s", resp.Status)
		}
		body, size = resp.Body, resp.ContentLength
		return nil
	})
	return body, size, err
}
