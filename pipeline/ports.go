package pipeline

import (
	"context"
	"errors"
	"io"
	"time"
)

// The core's ports: what it needs from the outside world, in its own
// terms. s3store and localstore implement Store, telegram implements Chat,
// replicate implements Models; tests use small in-memory versions.

// Store is the bucket: the only state photobot keeps. Keys are plain
// strings such as "tasks/abc123.json" (every key is spelled in keys.go);
// the same layout is used on S3 (package s3store) and on a local directory
// (package localstore).
//
// Correctness never depends on listing: every fact lives under a key that
// can be computed, and the only primitives are the ones below.
type Store interface {
	// Put writes an object unconditionally, streaming body. size is the
	// exact length of body, or -1 when unknown.
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error

	// Get reads a small object whole, with its ETag. It returns an error
	// wrapping ErrNotFound when key is absent.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)

	// Create writes data only if key is absent (If-None-Match: *). It
	// returns an error wrapping ErrExists when key is present or when a
	// concurrent conditional write won (S3 answers 412 or 409).
	Create(ctx context.Context, key string, data []byte) (etag string, err error)

	// Replace writes data only if the object's current ETag is etag
	// (If-Match). It returns an error wrapping ErrConflict when the object
	// changed or vanished meanwhile.
	Replace(ctx context.Context, key string, data []byte, etag string) (newETag string, err error)

	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// AgedStore is a Store that can also tell how long ago an object was
// written, by the store's own clock. Claims are judged by it when the
// Store has it: the instances that write and read a claim may have clocks
// tens of seconds apart, and the store's clock is one for all of them.
type AgedStore interface {
	// GetAged is Get, with the object's age: the store's time of the
	// answer less the object's time of writing, each in whole seconds
	// (as HTTP dates are), so within a second of the truth either way.
	GetAged(ctx context.Context, key string) (data []byte, etag string, age time.Duration, err error)
}

// ImageStore keeps the user's photo and hands out a URL from which the
// model can read it: a presigned GET URL on S3, or a Replicate file URL
// when the bot runs without a bucket.
type ImageStore interface {
	StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (url string, err error)
}

// PresignTTL is how long the URL handed to the model stays valid.
const PresignTTL = time.Hour

// Chat is the messenger the users write to (Telegram). How a message is
// carried (a webhook's answer, an upload after a refused URL, an album)
// is the implementation's business.
type Chat interface {
	// OpenFile opens a file a user sent, by its id. Its errors wrap
	// ErrTooBig when the file is over what bots may download, and
	// ErrFileGone when it cannot be had.
	OpenFile(ctx context.Context, fileID string) (body io.ReadCloser, size int64, err error)
	// Send sends r, or edits the message r.Edit.
	Send(ctx context.Context, r *Reply) error
	// Post sends r as a new message (never an edit) and returns its id,
	// for a message the bot must find again (a question, a status).
	Post(ctx context.Context, r *Reply) (messageID int, err error)
	// SendResult sends a model's output files.
	SendResult(ctx context.Context, r *Result) error
	// SendPNG sends an image the bot made (a chart) as a photo.
	SendPNG(ctx context.Context, chatID int64, png []byte, caption string) error
	// Answer answers a button press; text, when set, is shown to the
	// presser (as an alert when alert is true).
	Answer(ctx context.Context, pressID, text string, alert bool) error
}

// Payments is how the bot takes Telegram Stars (currency XTR): nil when
// payments are off (no PRICE_STARS).
type Payments interface {
	// SendInvoice sends an invoice for inv.Stars Stars, with a Pay button
	// first and inv.Buttons under it.
	SendInvoice(ctx context.Context, inv *Invoice) error
	// AnswerPreCheckout accepts a payment about to be made (refusal "")
	// or refuses it with refusal, told to the user. Telegram waits 10 s.
	AnswerPreCheckout(ctx context.Context, queryID, refusal string) error
	// RefundStars gives a payment back to the user. Its errors wrap
	// ErrAlreadyRefunded when Telegram already did (CHARGE_ALREADY_REFUNDED).
	RefundStars(ctx context.Context, userID int64, chargeID string) error
}

// Invoice is a bill in Stars.
type Invoice struct {
	ChatID      int64
	ReplyTo     int // the message answered; 0 for none
	Title       string
	Description string
	// Payload comes back in the PreCheckout and the Payment: at most 128
	// bytes, never shown to the user.
	Payload string
	Stars   int
	Buttons [][]Button // under the Pay button
}

// Models runs predictions (Replicate).
type Models interface {
	// Create starts a prediction and returns its id. Its errors wrap
	// ErrRejected when the model refused the input, ErrConfig when the
	// token or the model is wrong.
	Create(ctx context.Context, r *PredictionRequest) (id string, err error)
	// Cancel stops a prediction, so that it is billed no further.
	Cancel(ctx context.Context, id string) error
}

// Errors the ports' implementations wrap, so that the core can tell what a
// failure means without knowing whose it is.
var (
	// ErrNotFound, ErrExists, ErrConflict: see Store.
	ErrNotFound = errors.New("object not found")
	ErrExists   = errors.New("object already exists")
	ErrConflict = errors.New("object changed concurrently")
	// ErrRefused: the store refused the request itself (access denied, no
	// such bucket): retrying helps only once the operator fixes it (or the
	// access rights of a new deployment have spread).
	ErrRefused = errors.New("refused by the store")
	// ErrConfig: Telegram or Replicate refused the request itself (a
	// revoked token, an unknown model, a bad parameter): the operator's
	// configuration is wrong.
	ErrConfig = errors.New("refused: check the configuration")
	// ErrGone: the chat will not take messages (the user blocked the bot,
	// the chat is gone): nothing will ever help.
	ErrGone = errors.New("chat refuses messages")
	// ErrTooBig: a file over what bots may download (20 MB).
	ErrTooBig = errors.New("file is too big to download")
	// ErrFileGone: a file that cannot be had (expired, deleted, refused).
	ErrFileGone = errors.New("file cannot be had")
	// ErrRejected: the model refused the input; the error's text says why.
	ErrRejected = errors.New("input rejected by the model")
	// ErrAlreadyRefunded: the payment was refunded before.
	ErrAlreadyRefunded = errors.New("payment already refunded")
)

// Update is what the core reads of a Telegram update: a message or a
// button press (others are nil).
type Update struct {
	ID      int64
	Message *Message
	Press   *Press
	// PreCheckout is a payment about to be made (pre_checkout_query): it
	// must be answered within 10 s.
	PreCheckout *PreCheckout
}

// PreCheckout asks whether a payment may go ahead.
type PreCheckout struct {
	ID       string
	From     User
	Currency string // "XTR"
	Stars    int    // total_amount
	Payload  string // the invoice's
}

// Payment is a payment made (successful_payment).
type Payment struct {
	Currency string // "XTR"
	Stars    int    // total_amount
	Payload  string // the invoice's
	// ChargeID (telegram_payment_charge_id) names the payment for good:
	// it is credited once, and refunded by it.
	ChargeID string
}

// User is a Telegram user.
type User struct {
	ID       int64
	Username string
	Language string // language_code
	Bot      bool   // is_bot
}

// Message is a user's message.
type Message struct {
	ID      int
	ChatID  int64
	Private bool
	From    *User // nil for channel posts
	Date    time.Time
	Text    string
	Caption string
	Album   string // media_group_id
	// File is the photo's largest size, or the file sent; nil for text.
	File *File
	// Payment is set on a message that reports a payment.
	Payment *Payment
	// ReplyTo is the message this one answers, one level deep (Telegram
	// gives the replied message without its own reply_to_message).
	ReplyTo *Message
}

// File is a photo or file a message carries.
type File struct {
	ID     string
	Size   int64 // 0 when unknown
	Image  bool  // a photo, or a file of an image type
	TooBig bool  // over what bots may download
}

// Press is a press of one of the bot's buttons (a callback query).
type Press struct {
	ID        string
	From      User
	ChatID    int64
	MessageID int // the message whose button was pressed; 0 when it is too old to be seen
	// OnText: that message is text (a menu, a status), whose words can be
	// changed; a photo or document (a result) can only change its buttons.
	OnText bool
	Data   string
	// Photo is the user's message that MessageID replies to (every
	// message with buttons replies to a photo); nil when it is gone.
	Photo *Message
}

// Button is an inline button; Data comes back in the Press.
type Button struct {
	Text, Data string
}

// Reply is a message the bot sends, or (when Edit is set) the new text
// and buttons of one of its messages.
type Reply struct {
	ChatID  int64
	Text    string
	ReplyTo int // the message answered; 0 for none
	Edit    int // the message to change instead of sending; 0 to send
	// ButtonsOnly: change only the buttons of Edit (a photo's, a
	// document's), not its text; no Buttons removes them.
	ButtonsOnly bool
	Buttons     [][]Button
	// ForceReply opens the user's reply to this message (instead of
	// Buttons: a message has one reply markup), with Placeholder in the
	// input field (at most 64 characters).
	ForceReply  bool
	Placeholder string
}

// Result is a model's output on its way to the user.
type Result struct {
	ChatID  int64
	ReplyTo int
	Files   []string // URLs
	As      SendAs
	Caption string
	// Name is the base of the files' names ("upscale" gives upscale.png).
	Name string
	// Buttons go under the result (on its last message).
	Buttons [][]Button
}

// PredictionRequest is what a prediction is made of.
type PredictionRequest struct {
	Model string // as REPLICATE_MODEL
	Input map[string]any
	// Webhook receives the prediction when it is done; "" when it is
	// polled instead (photobot run).
	Webhook string
	// Deadline: the model is stopped after it (Cancel-After).
	Deadline time.Duration
	// Progress: the webhook is also told when the prediction starts.
	Progress bool
}

// Status is where a prediction is in its life, in Replicate's words.
type Status string

// Prediction statuses.
const (
	Starting   Status = "starting"
	Processing Status = "processing"
	Succeeded  Status = "succeeded"
	Failed     Status = "failed"
	Canceled   Status = "canceled"
	Aborted    Status = "aborted" // the deadline passed before it started
)

// Terminal reports whether a prediction in this status has finished for
// good.
func (s Status) Terminal() bool {
	switch s {
	case Succeeded, Failed, Canceled, Aborted:
		return true
	}
	return false
}

// Outcome is what a prediction gave, as its webhook (or a poll) tells it.
type Outcome struct {
	ID     string
	Status Status
	Files  []string // output URLs
	Text   string   // output text
	Error  string   // the model's error, for the operator's log
	Took   time.Duration
}

// Terminal reports whether the prediction has finished for good.
func (o *Outcome) Terminal() bool { return o.Status.Terminal() }
