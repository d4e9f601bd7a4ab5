// Package fake holds httptest fakes of the two APIs photobot talks to, the
// Telegram Bot API (Telegram) and the Replicate HTTP API (Replicate), for
// tests that cannot reach the real services.
//
// Both fakes follow the documented contracts of the real APIs closely: the
// same paths, the same answer shapes and, where they could be found in the
// documentation, the open-source Bot API server or public captures, the same
// error texts. Where the fakes had to choose, the choice is said in the doc
// comment of the type or method concerned.
//
// Both fakes are safe for concurrent use. Their exported configuration
// fields are read when a request (or a prediction) needs them: set them
// before the calls they should affect, not while requests are in flight.
package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"image"
	_ "image/gif" // registers GIF for image.DecodeConfig
	"image/jpeg"
	"image/png"
	"strings"
	"sync"
	"time"
)

// PNG returns a valid w×h PNG image (a gradient), for tests that need
// bytes every image decoder accepts.
func PNG(w, h int) []byte {
	return encoded("png", w, h, func(buf *bytes.Buffer, img image.Image) error { return png.Encode(buf, img) })
}

// JPEG returns a valid w×h JPEG image (a gradient).
func JPEG(w, h int) []byte {
	return encoded("jpeg", w, h, func(buf *bytes.Buffer, img image.Image) error {
		return jpeg.Encode(buf, img, &jpeg.Options{Quality: 80})
	})
}

// images caches what PNG and JPEG made: encoding is a fifth of a fault
// matrix's CPU under the race detector, and every photo of a test is one
// of a few sizes.
var images sync.Map // "format w h" → []byte

func encoded(format string, w, h int, encode func(*bytes.Buffer, image.Image) error) []byte {
	key := fmt.Sprint(format, " ", w, " ", h)
	if b, ok := images.Load(key); ok {
		return bytes.Clone(b.([]byte))
	}
	var buf bytes.Buffer
	if err := encode(&buf, gradient(w, h)); err != nil {
		panic(err)
	}
	images.Store(key, buf.Bytes())
	return bytes.Clone(buf.Bytes())
}

func gradient(w, h int) image.Image {
	w, h = max(w, 1), max(h, 1)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			copy(row[4*x:], []byte{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

// imageSize reads the format and dimensions of an image from its header
// (JPEG, PNG, GIF through the standard library; WebP by hand, since
// models often return WebP). ok is false when data is no image.
func imageSize(data []byte) (format string, w, h int, ok bool) {
	if cfg, f, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		return f, cfg.Width, cfg.Height, true
	}
	if w, h, ok := webpSize(data); ok {
		return "webp", w, h, true
	}
	return "", 0, 0, false
}

// webpSize parses the RIFF header of a WebP file (VP8X, VP8 and VP8L chunks).
func webpSize(b []byte) (w, h int, ok bool) {
	if len(b) < 30 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return 0, 0, false
	}
	switch string(b[12:16]) {
	case "VP8X":
		w = 1 + int(b[24]) | int(b[25])<<8 | int(b[26])<<16
		h = 1 + int(b[27]) | int(b[28])<<8 | int(b[29])<<16
		return w, h, true
	case "VP8 ":
		if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
			return 0, 0, false
		}
		w = int(binary.LittleEndian.Uint16(b[26:28]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(b[28:30]) & 0x3fff)
		return w, h, w > 0 && h > 0
	case "VP8L":
		if b[20] != 0x2f {
			return 0, 0, false
		}
		v := binary.LittleEndian.Uint32(b[21:25])
		return int(v&0x3fff) + 1, int((v>>14)&0x3fff) + 1, true
	}
	return 0, 0, false
}

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	base62     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base64URL  = base62 + "-_"
	hexDigits  = "0123456789abcdef"
)

// randString returns n random characters of alphabet.
func randString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// randUint63 returns a random non-negative 63-bit number.
func randUint63() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.BigEndian.Uint64(b[:]) >> 1
}

// fault is one injected failure: an HTTP status with either a Bot API
// description (Telegram) or a raw body (Replicate).
type fault struct {
	status     int
	text       string // description (Telegram) or body (Replicate)
	retryAfter int    // seconds; Telegram: parameters.retry_after, Replicate: Retry-After header
}

// faults is the per-endpoint fault and delay book of a fake.
type faults struct {
	mu         sync.Mutex
	next       map[string][]fault
	always     map[string]fault
	delay      map[string]time.Duration
	delayAfter map[string]time.Duration
}

func (f *faults) key(name string) string { return strings.ToLower(name) }

func (f *faults) push(name string, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		f.next = map[string][]fault{}
	}
	f.next[f.key(name)] = append(f.next[f.key(name)], ft)
}

func (f *faults) setAlways(name string, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.always == nil {
		f.always = map[string]fault{}
	}
	f.always[f.key(name)] = ft
}

func (f *faults) setDelay(name string, d time.Duration, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &f.delay
	if after {
		m = &f.delayAfter
	}
	if *m == nil {
		*m = map[string]time.Duration{}
	}
	if d <= 0 {
		delete(*m, f.key(name))
		return
	}
	(*m)[f.key(name)] = d
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next, f.always, f.delay, f.delayAfter = nil, nil, nil, nil
}

// take returns the fault to answer name with, if any: a queued one first,
// then a permanent one.
func (f *faults) take(name string) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(name)
	if q := f.next[k]; len(q) > 0 {
		f.next[k] = q[1:]
		return q[0], true
	}
	ft, ok := f.always[k]
	return ft, ok
}

func (f *faults) delayOf(name string, after bool) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if after {
		return f.delayAfter[f.key(name)]
	}
	return f.delay[f.key(name)]
}

// TB is what the fakes need of a test: testing.TB has it, and so has the
// bench's command, which runs the fakes outside a test.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// sleep waits d, or until ctx ends or done closes; it reports whether the
// whole wait elapsed.
func sleep(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-done:
		return false
	}
}

// broadcast is a condition that waiters select on: wait returns a channel
// that is closed at the next signal.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
