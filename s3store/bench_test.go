package s3store

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"testing"
	"time"
)

// BenchmarkOperationMix is the store's work for one photo, against MinIO:
// a 200 KB streamed Put (a reader that cannot seek, as a download is),
// then a state object's Create, Get, Replace and Delete, and a Presign.
// Besides ns/op, B/op and allocs/op it reports the CPU time of this
// process (MinIO's is not counted) per operation: cpu-µs/op, and of it
// user-µs/op (the client's own work; the rest is the kernel's, mostly the
// loopback TCP of the 200 KB, the same for any client).
func BenchmarkOperationMix(b *testing.B) {
	s := newTestStore(b, "")
	ctx := context.Background()
	photo := bytes.Repeat([]byte("0123456789abcdef"), 200_000/16)
	state := []byte(`{"chat_id":123456789,"status":"starting","n":1}`)
	next := []byte(`{"chat_id":123456789,"status":"succeeded","n":2}`)
	mix := func(i int) {
		if err := s.Put(ctx, "images/bench.jpg", struct{ io.Reader }{bytes.NewReader(photo)}, int64(len(photo)), "image/jpeg"); err != nil {
			b.Fatal(err)
		}
		key := "tasks/bench-" + strconv.Itoa(i) + ".json"
		if _, err := s.Create(ctx, key, state); err != nil {
			b.Fatal(err)
		}
		_, etag, err := s.Get(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Replace(ctx, key, next, etag); err != nil {
			b.Fatal(err)
		}
		if err := s.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Presign(ctx, "images/bench.jpg", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	mix(-1) // warm the connection pool
	b.ReportAllocs()
	b.ResetTimer()
	user0, sys0 := cpuTime()
	for i := 0; i < b.N; i++ {
		mix(i)
	}
	user1, sys1 := cpuTime()
	b.StopTimer()
	if user1 > 0 {
		user, sys := user1-user0, sys1-sys0
		b.ReportMetric(float64((user+sys).Microseconds())/float64(b.N), "cpu-µs/op")
		b.ReportMetric(float64(user.Microseconds())/float64(b.N), "user-µs/op")
	}
}
