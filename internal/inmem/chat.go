package inmem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/photobot/photobot/pipeline"
)

// Chat is a pipeline.Chat in memory: files to open, and a record of what
// was sent. Faults are keyed "open", "send", "post", "result", "png" and "answer".
type Chat struct {
	Faults
	mu      sync.Mutex
	files   map[string][]byte
	Sent    []pipeline.Reply
	Posted  []int // the id Post gave each of Sent (0: sent by Send)
	Results []pipeline.Result
	Answers []Answer
	PNGs    []PNG
	posts   int
}

// PNG is a recorded image the bot made.
type PNG struct {
	ChatID  int64
	Data    []byte
	Caption string
}

// Answer is a recorded answer to a button press.
type Answer struct {
	PressID, Text string
	Alert         bool
}

// NewChat returns a chat with no files.
func NewChat() *Chat { return &Chat{files: map[string][]byte{}} }

var _ pipeline.Chat = (*Chat)(nil)

// AddFile makes a file a user sent available by id.
func (c *Chat) AddFile(id string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[id] = data
}

// OpenFile opens a file added with AddFile.
func (c *Chat) OpenFile(ctx context.Context, id string) (io.ReadCloser, int64, error) {
	if err := c.take("open"); err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.files[id]
	if !ok {
		return nil, 0, fmt.Errorf("inmem: no file %s: %w", id, pipeline.ErrFileGone)
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}

// Send records r.
func (c *Chat) Send(ctx context.Context, r *pipeline.Reply) error {
	if err := c.take("send"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Sent = append(c.Sent, *r)
	c.Posted = append(c.Posted, 0)
	return nil
}

// PostBase is the first message id Post gives; ids go up from there.
const PostBase = 1000

// Post records r (a "post" fault fails it) and returns its new id:
// PostBase, PostBase+1, ...
func (c *Chat) Post(ctx context.Context, r *pipeline.Reply) (int, error) {
	if err := c.take("post"); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	id := PostBase + c.posts - 1
	c.Sent = append(c.Sent, *r)
	c.Posted = append(c.Posted, id)
	return id, nil
}

// SendResult records r.
func (c *Chat) SendResult(ctx context.Context, r *pipeline.Result) error {
	if err := c.take("result"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Results = append(c.Results, *r)
	return nil
}

// SendPNG records the image; fault key "png".
func (c *Chat) SendPNG(ctx context.Context, chatID int64, png []byte, caption string) error {
	if err := c.take("png"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.PNGs = append(c.PNGs, PNG{ChatID: chatID, Data: png, Caption: caption})
	return nil
}

// Answer records the answer to a press.
func (c *Chat) Answer(ctx context.Context, id, text string, alert bool) error {
	if err := c.take("answer"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Answers = append(c.Answers, Answer{id, text, alert})
	return nil
}

// Record returns copies of what was sent so far.
func (c *Chat) Record() (sent []pipeline.Reply, results []pipeline.Result, answers []Answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pipeline.Reply(nil), c.Sent...), append([]pipeline.Result(nil), c.Results...), append([]Answer(nil), c.Answers...)
}

// Models is a pipeline.Models in memory: it records creations and
// cancellations. Faults are keyed "create" and "cancel".
type Models struct {
	Faults
	mu       sync.Mutex
	seq      int
	Created  []pipeline.PredictionRequest
	Canceled []string
}

var _ pipeline.Models = (*Models)(nil)

// Create records r and returns a new id.
func (m *Models) Create(ctx context.Context, r *pipeline.PredictionRequest) (string, error) {
	if err := m.take("create"); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	m.Created = append(m.Created, *r)
	return fmt.Sprintf("pred%022d", m.seq), nil
}

// Cancel records the id.
func (m *Models) Cancel(ctx context.Context, id string) error {
	if err := m.take("cancel"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Canceled = append(m.Canceled, id)
	return nil
}

// Record returns copies of the creations and cancellations so far.
func (m *Models) Record() (created []pipeline.PredictionRequest, canceled []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]pipeline.PredictionRequest(nil), m.Created...), append([]string(nil), m.Canceled...)
}
