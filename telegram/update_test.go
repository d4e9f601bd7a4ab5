package telegram

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/photobot/photobot/pipeline"
)

func golden(t *testing.T, name string) *pipeline.Update {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "telegram", name))
	if err != nil {
		t.Fatal(err)
	}
	u, err := DecodeUpdate(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

func TestDecodeGoldenUpdates(t *testing.T) {
	u := golden(t, "update_photo.json")
	m := u.Message
	if u.ID == 0 || m == nil || m.File == nil || !m.File.Image || m.File.TooBig || m.Caption == "" || !m.Private ||
		m.From == nil || m.From.Language != "ru" || m.Date.IsZero() {
		t.Errorf("photo: %+v %+v", u, m)
	}
	// The largest size by area, wherever it is in the list.
	if m := golden(t, "update_photo_unordered.json").Message; m.File == nil || m.File.ID == "" {
		t.Fatalf("unordered: %+v", m)
	} else if m.File.Size == 0 {
		t.Errorf("unordered: size lost")
	}
	if m := golden(t, "update_document_image.json").Message; m.File == nil || !m.File.Image {
		t.Errorf("image sent as a file: %+v", m.File)
	}
	if m := golden(t, "update_sticker.json").Message; m.File == nil || m.File.Image {
		t.Errorf("sticker: %+v", m.File)
	}
	if m := golden(t, "update_text.json").Message; m.File != nil || m.Text == "" {
		t.Errorf("text: %+v", m)
	}
	if m := golden(t, "update_big_photo.json").Message; m.File == nil || !m.File.TooBig {
		t.Errorf("25 MB photo: %+v", m.File)
	}
	if u := golden(t, "update_edited_message.json"); u.Message != nil || u.Press != nil {
		t.Errorf("edited message read as %+v", u)
	}
	p := golden(t, "update_callback_query.json").Press
	if p == nil || p.ID == "" || p.Data == "" || p.MessageID == 0 || p.ChatID == 0 || p.From.ID == 0 || p.From.Language != "ru" {
		t.Errorf("press: %+v", p)
	}
}

func TestUnorderedPhotoTakesTheLargestSize(t *testing.T) {
	u, err := DecodeUpdate([]byte(`{"update_id":1,"message":{"message_id":2,"date":1,"chat":{"id":3,"type":"group"},
		"photo":[{"file_id":"small","width":90,"height":60},{"file_id":"big","width":1280,"height":853,"file_size":9},{"file_id":"mid","width":320,"height":213}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f := u.Message.File; f.ID != "big" || f.Size != 9 || u.Message.Private {
		t.Errorf("took %+v (private %v)", f, u.Message.Private)
	}
}
