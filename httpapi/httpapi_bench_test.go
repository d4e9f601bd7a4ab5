package httpapi_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/go-telegram/bot/models"
)

// BenchmarkDecodeUpdate decodes a photo update as Telegram posts it
// (testdata/telegram/update_photo.json) into models.Update, as the
// Telegram webhook does with every request.
func BenchmarkDecodeUpdate(b *testing.B) {
	body, err := os.ReadFile("../testdata/telegram/update_photo.json")
	if err != nil {
		b.Fatal(err)
	}
	var u models.Update
	if err := json.Unmarshal(body, &u); err != nil || u.Message == nil || len(u.Message.Photo) == 0 {
		b.Fatalf("golden update does not decode to a photo: %v", err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var u models.Update
		if err := json.Unmarshal(body, &u); err != nil {
			b.Fatal(err)
		}
	}
}
