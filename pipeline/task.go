package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Task is the state between the two halves: tasks/{prediction_id}.json.
// chat_id, file_id and timestamp are the spec's; the rest lets the result
// reply to the photo, in the user's language, and free the user's slot.
type Task struct {
	ChatID    int64  `json:"chat_id"`
	FileID    string `json:"file_id"`
	Timestamp int64  `json:"timestamp"`            // when the task was created, unix seconds
	MessageID int    `json:"message_id,omitempty"` // the user's photo, to reply to
	UpdateID  int64  `json:"update_id,omitempty"`  // the update that started it (the user's reservation)
	UserID    int64  `json:"user_id,omitempty"`    // who started it (and whose slot it holds)
	Language  string `json:"language,omitempty"`   // the user's language_code
	Image     string `json:"image,omitempty"`      // key of the stored photo
	Effect    string `json:"effect,omitempty"`     // the effect's id
	// StatusMessage is the bot's message that shows the prediction's progress
	// (the menu the effect was chosen from, or the result whose Again was
	// pressed), changed when it ends; 0 when there is none (the photo
	// started the effect by itself).
	StatusMessage int `json:"status,omitempty"`
	// StatusButtons: StatusMessage is a result (a photo or document) whose
	// buttons show the progress; else it is a text message.
	StatusButtons bool `json:"status_buttons,omitempty"`
	// Prompt is what the model was told besides the photo, shown under
	// the result. It is the user's text: never logged.
	Prompt string `json:"prompt,omitempty"`
	// PromptKept: the prompt came from a reply and is kept for Again
	// under the prediction's id (prompts.go).
	PromptKept bool `json:"prompt_kept,omitempty"`
	// Cancel is the data of the status's Cancel button, kept there when
	// the status says the model started (progress.go).
	Cancel string `json:"cancel,omitempty"`
	// Hold names the Stars held from the user's balance for this
	// prediction (Stars of them): kept when the result is delivered,
	// given back when none is. "" when it was free.
	Hold  string `json:"hold,omitempty"`
	Stars int    `json:"stars,omitempty"`
	// Counted: the user's counters count it (quota.go), to be freed.
	Counted bool `json:"counted,omitempty"`
}

var predictionID = regexp.MustCompile(`^[a-z0-9]{1,64}$`)

// validPredictionID reports whether id looks like a Replicate prediction
// id (lowercase letters and digits), so that it is safe in a key.
func validPredictionID(id string) bool { return predictionID.MatchString(id) }

// saveTask writes the task, retrying within opt.SaveBudget: the prediction
// already runs, and if the task cannot be written in time it is canceled
// (see intake.go) while that still saves money. Each try gets a third of
// the budget, so that one stalled request leaves time for another.
func (b *Bot) saveTask(ctx context.Context, id string, t *Task) error {
	data, _ := json.Marshal(t)
	ctx, cancel := context.WithTimeout(ctx, b.opt.SaveBudget)
	defer cancel()
	wait := 50 * time.Millisecond
	var err error
	stalled := false
	for {
		actx, cancel := context.WithTimeout(ctx, min(b.opt.CallTimeout, b.opt.SaveBudget/3))
		err = b.store.Put(actx, taskKey(id), bytes.NewReader(data), int64(len(data)), "application/json")
		stalled = stalled || err != nil && actx.Err() != nil
		cancel()
		if err == nil || !sleep(ctx, wait) {
			break
		}
		wait *= 2
	}
	if stalled {
		// A write given up on can still land, even after the result's
		// delivery deleted the task: a copy would stay.
		b.log.Info("a stalled save of the task may land late; the lifecycle rule will delete it", "prediction_id", id, "task", taskKey(id))
	}
	if err != nil {
		return fmt.Errorf("saving task: %w", err)
	}
	return nil
}

func (b *Bot) loadTask(ctx context.Context, id string) (*Task, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	data, _, err := b.store.Get(ctx, taskKey(id))
	if err != nil {
		return nil, err
	}
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("task %s is corrupt: %w", id, err)
	}
	return &t, nil
}
