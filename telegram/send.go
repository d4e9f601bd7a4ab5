package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/photobot/photobot/internal/safehttp"
	"github.com/photobot/photobot/internal/tgtext"
	"github.com/photobot/photobot/pipeline"
)

// What the Bot API takes (core.telegram.org/bots/api#sending-files).
const (
	maxPhotoUpload    = 10 << 20 // sendPhoto by upload
	maxDocumentUpload = 50 << 20 // sendDocument by upload
	maxAlbum          = 10       // sendMediaGroup: 2-10 items
)

// Send sends r as a text message, or, when r.Edit is set, changes that
// message's text and buttons ("message is not modified" counts as done).
func (c *Client) Send(ctx context.Context, r *pipeline.Reply) error {
	if r.Edit != 0 && r.ButtonsOnly {
		err := c.do(ctx, "editMessageReplyMarkup", func(ctx context.Context) error {
			_, err := c.api.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: r.ChatID, MessageID: r.Edit,
				ReplyMarkup: keyboard(r.Buttons)})
			return err
		})
		if notModified(err) {
			return nil
		}
		return err
	}
	if r.Edit != 0 {
		err := c.do(ctx, "editMessageText", func(ctx context.Context) error {
			_, err := c.api.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: r.ChatID, MessageID: r.Edit,
				Text: tgtext.Clip(r.Text, maxText), ReplyMarkup: keyboard(r.Buttons)})
			return err
		})
		if notModified(err) {
			return nil
		}
		return err
	}
	_, err := c.Post(ctx, r)
	return err
}

// Post sends r as a new message and returns its id.
func (c *Client) Post(ctx context.Context, r *pipeline.Reply) (int, error) {
	id := 0
	send := func(text string) error {
		return c.do(ctx, "sendMessage", func(ctx context.Context) error {
			m, err := c.api.SendMessage(ctx, &bot.SendMessageParams{ChatID: r.ChatID, Text: text,
				ReplyParameters: replyTo(r.ReplyTo), ReplyMarkup: markup(r)})
			if err == nil && m != nil {
				id = m.ID
			}
			return err
		})
	}
	text := tgtext.Clip(r.Text, maxText)
	err := send(text)
	if tooLong(err) {
		// Telegram measured otherwise than clip did: a shorter text
		// rather than none.
		c.log("Telegram found the message too long; sending it cut", err)
		err = send(tgtext.Clip(text, tgtext.Len(text)/2))
	}
	return id, err
}

// markup is a new message's reply markup: a ForceReply, or its buttons.
func markup(r *pipeline.Reply) models.ReplyMarkup {
	if r.ForceReply {
		return &models.ForceReply{ForceReply: true, InputFieldPlaceholder: tgtext.Clip(r.Placeholder, maxPlaceholder),
			Selective: true}
	}
	return keyboard(r.Buttons)
}

// What Telegram takes, in UTF-16 code units
// (core.telegram.org/bots/api#sendmessage).
const (
	maxText        = 4096
	maxCaption     = 1024
	maxPlaceholder = 64 // ForceReply's input_field_placeholder
)

// tooLong: Telegram refused a text or a caption for its length.
func tooLong(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == http.StatusBadRequest && strings.Contains(e.Desc, "too long")
}

// Answer answers a button press (answerCallbackQuery).
func (c *Client) Answer(ctx context.Context, pressID, text string, alert bool) error {
	return c.do(ctx, "answerCallbackQuery", func(ctx context.Context) error {
		_, err := c.api.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: pressID,
			Text: text, ShowAlert: alert && text != ""})
		return err
	})
}

// WebhookAnswer is r as the body of a webhook's answer, which Telegram
// performs as a Bot API call: one round trip saved, its result unknowable.
// Only calls that upload nothing may go there: a text message or an edit.
func WebhookAnswer(r *pipeline.Reply) []byte {
	m := map[string]any{"chat_id": r.ChatID, "text": tgtext.Clip(r.Text, maxText)}
	switch {
	case r.Edit != 0 && r.ButtonsOnly:
		delete(m, "text")
		m["method"], m["message_id"] = "editMessageReplyMarkup", r.Edit
	case r.Edit != 0:
		m["method"], m["message_id"] = "editMessageText", r.Edit
	default:
		m["method"] = "sendMessage"
		if p := replyTo(r.ReplyTo); p != nil {
			m["reply_parameters"] = p
		}
	}
	switch {
	case r.ForceReply && r.Edit == 0:
		m["reply_markup"] = markup(r)
	case len(r.Buttons) > 0:
		m["reply_markup"] = inlineKeyboard(r.Buttons)
	}
	data, _ := json.Marshal(m)
	return data
}

// inlineKeyboard is the JSON of an inline keyboard of callback buttons,
// written here rather than with go-telegram's models, whose button type
// always carries an (empty) copy_text.
func inlineKeyboard(rows [][]pipeline.Button) map[string]any {
	type button struct {
		Text         string `json:"text"`
		CallbackData string `json:"callback_data"`
	}
	kb := make([][]button, len(rows))
	for i, row := range rows {
		for _, b := range row {
			kb[i] = append(kb[i], button{b.Text, b.Data})
		}
	}
	return map[string]any{"inline_keyboard": kb}
}

// keyboard is rows as go-telegram's reply markup; nil for none. (Its
// buttons also carry "copy_text":{"text":""}, which the Bot API server
// ignores on a button that has callback_data: it takes the first type
// it finds, callback_data before copy_text.)
func keyboard(rows [][]pipeline.Button) models.ReplyMarkup {
	if len(rows) == 0 {
		return nil
	}
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: make([][]models.InlineKeyboardButton, len(rows))}
	for i, row := range rows {
		for _, b := range row {
			kb.InlineKeyboard[i] = append(kb.InlineKeyboard[i], models.InlineKeyboardButton{Text: b.Text, CallbackData: b.Data})
		}
	}
	return kb
}

// replyTo makes a message a reply to the user's message, still sent when
// that message has been deleted.
func replyTo(messageID int) *models.ReplyParameters {
	if messageID == 0 {
		return nil
	}
	return &models.ReplyParameters{MessageID: messageID, AllowSendingWithoutReply: true}
}

// SendResult sends a model's output files: by URL when Telegram takes it
// (it fetches the file itself), else downloaded and uploaded. As a photo,
// an image Telegram will not take becomes a document; files that are not
// images are always documents. Several files go as albums (photos and
// documents apart: Telegram does not mix them), and an album's buttons,
// which Telegram cannot attach to it, follow in a message of their own.
func (c *Client) SendResult(ctx context.Context, r *pipeline.Result) error {
	files := r.Files[:min(len(r.Files), maxAlbum)]
	for _, f := range files {
		if err := c.resultOK(f); err != nil {
			return refused(err)
		}
	}
	var images, others []string
	for _, f := range files {
		if isImageURL(f) {
			images = append(images, f)
		} else {
			others = append(others, f)
		}
	}
	clipped := *r
	clipped.Caption = tgtext.Clip(r.Caption, maxCaption)
	s := &sending{c: c, r: &clipped}
	switch r.As {
	case pipeline.AsDocument:
		return s.documents(ctx, files, true)
	case pipeline.AsBoth:
		if err := s.photos(ctx, images, false); err != nil {
			return err
		}
		return s.documents(ctx, files, true)
	default:
		if err := s.photos(ctx, images, len(others) == 0); err != nil {
			return err
		}
		return s.documents(ctx, others, true)
	}
}

// sending is one result on its way.
type sending struct {
	c *Client
	r *pipeline.Result
}

// photos sends urls as a photo or an album of photos; last tells that
// nothing follows, so the buttons go with them.
func (s *sending) photos(ctx context.Context, urls []string, last bool) error {
	switch len(urls) {
	case 0:
		return nil
	case 1:
		return s.photo(ctx, urls[0], last)
	}
	media := make([]models.InputMedia, len(urls))
	for i, u := range urls {
		media[i] = &models.InputMediaPhoto{Media: u, Caption: s.caption(i)}
	}
	err := s.album(ctx, media, last)
	if !urlRefused(err) {
		return err
	}
	s.c.log("Telegram could not fetch the album; uploading it", err)
	files := make([]*remoteFile, len(urls))
	for i, u := range urls {
		files[i] = s.c.remote(ctx, u, maxPhotoUpload)
		media[i] = &models.InputMediaPhoto{Media: "attach://" + s.name(i, u), Caption: s.caption(i), MediaAttachment: files[i]}
	}
	return s.uploaded(s.album(ctx, media, last), files)
}

// photo sends one image as a photo: by URL, else uploaded (up to 10 MB),
// else as a document.
func (s *sending) photo(ctx context.Context, u string, last bool) error {
	params := func(f models.InputFile) *bot.SendPhotoParams {
		p := &bot.SendPhotoParams{ChatID: s.r.ChatID, Photo: f, Caption: s.r.Caption, ReplyParameters: replyTo(s.r.ReplyTo)}
		if last {
			p.ReplyMarkup = keyboard(s.r.Buttons)
		}
		return p
	}
	err := s.c.sendPhoto(ctx, params(&models.InputFileString{Data: u}))
	if !urlRefused(err) {
		return err
	}
	s.c.log("Telegram could not fetch the result; uploading it", err)
	s.c.uploading(ctx, s.r.ChatID, models.ChatActionUploadPhoto)
	data, err := s.c.fetch(ctx, u, maxPhotoUpload)
	if err == nil {
		err = s.c.sendPhoto(ctx, params(&models.InputFileUpload{Filename: s.name(0, u), Data: bytes.NewReader(data)}))
		if !urlRefused(err) {
			return err
		}
		s.c.log("Telegram refused the photo; sending it as a document", err)
	} else if !errors.Is(err, errTooBigToUpload) {
		return err
	}
	return s.document(ctx, u, last)
}

// documents sends urls as a document or an album of documents.
func (s *sending) documents(ctx context.Context, urls []string, last bool) error {
	switch len(urls) {
	case 0:
		return nil
	case 1:
		return s.document(ctx, urls[0], last)
	}
	s.c.uploading(ctx, s.r.ChatID, models.ChatActionUploadDocument)
	media := make([]models.InputMedia, len(urls))
	files := make([]*remoteFile, len(urls))
	for i, u := range urls {
		files[i] = s.c.remote(ctx, u, maxDocumentUpload)
		media[i] = &models.InputMediaDocument{Media: "attach://" + s.name(i, u), Caption: s.caption(i), MediaAttachment: files[i]}
	}
	return s.uploaded(s.album(ctx, media, last), files)
}

// document sends one file as a document, untouched: by URL for the kinds
// Telegram fetches (GIF, PDF, ZIP: "sending by URL will currently only
// work for GIF, PDF and ZIP files"), else streamed from the model's URL
// into an upload (up to 50 MB).
func (s *sending) document(ctx context.Context, u string, last bool) error {
	params := func(f models.InputFile) *bot.SendDocumentParams {
		p := &bot.SendDocumentParams{ChatID: s.r.ChatID, Document: f, Caption: s.r.Caption, ReplyParameters: replyTo(s.r.ReplyTo)}
		if last {
			p.ReplyMarkup = keyboard(s.r.Buttons)
		}
		return p
	}
	switch strings.ToLower(path.Ext(urlPath(u))) {
	case ".gif", ".pdf", ".zip":
		err := s.c.sendDocument(ctx, params(&models.InputFileString{Data: u}))
		if !urlRefused(err) {
			return err
		}
		s.c.log("Telegram could not fetch the file; uploading it", err)
	}
	s.c.uploading(ctx, s.r.ChatID, models.ChatActionUploadDocument)
	f := s.c.remote(ctx, u, maxDocumentUpload)
	if err := f.open(); err != nil {
		return err
	}
	defer f.Close()
	return s.uploaded(s.c.sendDocument(ctx, params(&models.InputFileUpload{Filename: s.name(0, u), Data: f})), []*remoteFile{f})
}

// album sends media as one album; its buttons, when they go with it,
// follow in a message (albums cannot carry any).
func (s *sending) album(ctx context.Context, media []models.InputMedia, last bool) error {
	upload := false
	for _, m := range media {
		if strings.HasPrefix(m.GetMedia(), "attach://") {
			upload = true
		}
	}
	err := s.c.once(ctx, "sendMediaGroup", upload, func(ctx context.Context) error {
		_, err := s.c.api.SendMediaGroup(ctx, &bot.SendMediaGroupParams{ChatID: s.r.ChatID, Media: media,
			ReplyParameters: replyTo(s.r.ReplyTo)})
		return err
	})
	if err != nil || !last || len(s.r.Buttons) == 0 {
		return err
	}
	return s.c.Send(ctx, &pipeline.Reply{ChatID: s.r.ChatID, Text: s.r.Caption, ReplyTo: s.r.ReplyTo, Buttons: s.r.Buttons})
}

// uploaded reports an upload's failure: the download's, when reading the
// model's file is what broke it.
func (s *sending) uploaded(err error, files []*remoteFile) error {
	for _, f := range files {
		f.Close()
		if f.err != nil && err != nil {
			return f.err
		}
	}
	return err
}

// caption goes on an album's first item.
func (s *sending) caption(i int) string {
	if i == 0 {
		return s.r.Caption
	}
	return ""
}

// name is the file name of the i-th output: the effect's name and the
// output's extension ("upscale.png", "upscale-2.png").
func (s *sending) name(i int, u string) string {
	base := s.r.Name
	if base == "" {
		base = "result"
	}
	if len(s.r.Files) > 1 {
		base += "-" + strconv.Itoa(i+1)
	}
	return base + strings.ToLower(path.Ext(urlPath(u)))
}

func (c *Client) sendPhoto(ctx context.Context, p *bot.SendPhotoParams) error {
	return c.once(ctx, "sendPhoto", isUpload(p.Photo), func(ctx context.Context) error {
		_, err := c.api.SendPhoto(ctx, p)
		return err
	})
}

func (c *Client) sendDocument(ctx context.Context, p *bot.SendDocumentParams) error {
	return c.once(ctx, "sendDocument", isUpload(p.Document), func(ctx context.Context) error {
		_, err := c.api.SendDocument(ctx, p)
		return err
	})
}

// once runs a call that uploads a stream without retries: the stream is
// read once.
func (c *Client) once(ctx context.Context, method string, upload bool, call func(context.Context) error) error {
	if upload {
		return c.classify(method, call(ctx))
	}
	return c.do(ctx, method, call)
}

func isUpload(f models.InputFile) bool {
	_, ok := f.(*models.InputFileUpload)
	return ok
}

// uploading shows "sending photo…" in the chat while photobot uploads a
// file, which is when the user waits. It is a courtesy, sent alongside:
// its failure changes nothing.
func (c *Client) uploading(ctx context.Context, chatID int64, action models.ChatAction) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	go func() {
		defer cancel()
		_, _ = c.api.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: chatID, Action: action})
	}()
}

func (c *Client) log(msg string, err error) {
	if c.Log != nil {
		c.Log.Info(msg, "err", err)
	}
}

// urlRefused reports whether Telegram could not use a file it was asked
// to fetch or take (unreachable, not an image, too big, bad dimensions):
// the file should be uploaded, or sent another way.
func urlRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != http.StatusBadRequest {
		return false
	}
	d := strings.ToLower(e.Desc)
	for _, s := range []string{"failed to get http url content", "wrong type of the web page content",
		"wrong file identifier/http url specified", "file is too big", "too big for a photo", "photo_invalid_dimensions",
		"image_process_failed", "webpage_curl_failed", "webpage_media_empty"} {
		if strings.Contains(d, s) {
			return true
		}
	}
	return false
}

// notModified: an edit that changes nothing (Telegram answers 400).
func notModified(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == http.StatusBadRequest && strings.Contains(e.Desc, "message is not modified")
}

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".webp": true}

func isImageURL(u string) bool { return imageExt[strings.ToLower(path.Ext(urlPath(u)))] }

func urlPath(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return u
}

// refused is a model's output that may not be fetched (a host not among
// the result hosts, an internal address): for the core, a file that cannot
// be had. err names the host only, never the URL.
func refused(err error) error {
	return &Error{Method: "download result", Code: http.StatusBadRequest, Desc: "the model's output was refused: " + err.Error(), err: err}
}

// errTooBigToUpload: a model's file over what this upload may carry.
var errTooBigToUpload = &Error{Method: "download result", Code: http.StatusBadRequest, Desc: "result is over Telegram's upload limit"}

// fetch downloads a model's output whole, up to limit bytes.
func (c *Client) fetch(ctx context.Context, u string, limit int64) ([]byte, error) {
	f := c.remote(ctx, u, limit)
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// remote is a model's output read from its URL on first use, at most limit
// bytes, with the results client (SetResultHosts): from the result hosts
// only, at public addresses, redirects included.
func (c *Client) remote(ctx context.Context, u string, limit int64) *remoteFile {
	return &remoteFile{ctx: ctx, c: c, url: u, limit: limit}
}

type remoteFile struct {
	ctx   context.Context
	c     *Client
	url   string
	limit int64
	body  io.ReadCloser
	n     int64
	err   error
}

func (f *remoteFile) open() error {
	if f.body != nil || f.err != nil {
		return f.err
	}
	f.err = func() error {
		req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.url, nil)
		if err != nil {
			return &Error{Method: "download result", Code: http.StatusNotFound, Desc: "the model's output URL is malformed"}
		}
		resp, err := f.c.results.Do(req)
		var ue *url.Error
		if errors.Is(err, safehttp.ErrRefused) && errors.As(err, &ue) {
			return refused(ue.Err) // a redirect or an address refused; ue's text holds the URL
		}
		if err != nil {
			return fmt.Errorf("downloading the result: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
			resp.Body.Close()
			return &Error{Method: "download result", Code: http.StatusNotFound, Desc: "the model's output is gone"}
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			return fmt.Errorf("downloading the result: %s", resp.Status)
		case resp.ContentLength > f.limit:
			resp.Body.Close()
			return errTooBigToUpload
		}
		f.body = resp.Body
		return nil
	}()
	return f.err
}

func (f *remoteFile) Read(p []byte) (int, error) {
	if err := f.open(); err != nil {
		return 0, err
	}
	n, err := f.body.Read(p)
	f.n += int64(n)
	if f.n > f.limit {
		f.err = errTooBigToUpload
		return n, f.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		f.err = fmt.Errorf("downloading the result: %w", err)
		return n, f.err
	}
	return n, err
}

func (f *remoteFile) Close() error {
	if f.body != nil {
		return f.body.Close()
	}
	return nil
}

// SendPNG sends an image the bot made (a /stats chart) as a photo,
// uploaded. The bytes are at hand, so unlike a result's upload it is
// retried like any call.
func (c *Client) SendPNG(ctx context.Context, chatID int64, png []byte, caption string) error {
	return c.do(ctx, "sendPhoto", func(ctx context.Context) error {
		_, err := c.api.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: chatID, Caption: tgtext.Clip(caption, maxCaption),
			Photo: &models.InputFileUpload{Filename: "stats.png", Data: bytes.NewReader(png)}})
		return err
	})
}
