package main

import (
	"context"
	"sort"
	"sync"
	"time"
)

// driven is what the Telegram side saw of a batch of photos.
type driven struct {
	Attempts    []Ack            // every delivery, in no particular order
	Final       map[photoKey]Ack // the last delivery of each photo
	Tries       map[photoKey]int // deliveries of each photo
	Start, End  time.Time        // first post, last answer
	Redelivered int              // deliveries repeated after a 5xx or an error
	Status      map[int]int      // HTTP status of every delivery (0: no answer)
}

// drive delivers photos to s with `workers` deliveries in flight at most.
// redeliver > 0 makes it behave like Telegram after a failure: a 5xx or a
// connection error is delivered again after a pause, up to redeliver more
// times.
func (e *Env) drive(s *Serve, photos []*Photo, workers, redeliver int) *driven {
	d := &driven{Final: map[photoKey]Ack{}, Tries: map[photoKey]int{}, Status: map[int]int{}}
	var mu sync.Mutex
	next := make(chan *Photo)
	var wg sync.WaitGroup
	d.Start = time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				for attempt := 0; ; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					a := e.Post(ctx, s, p)
					cancel()
					mu.Lock()
					d.Attempts = append(d.Attempts, a)
					d.Status[a.Status]++
					d.Final[p.key()] = a
					d.Tries[p.key()]++
					again := (a.Err != nil || a.Status >= 500) && attempt < redeliver
					if again {
						d.Redelivered++
					}
					mu.Unlock()
					if !again {
						break
					}
					time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
				}
			}
		}()
	}
	for _, p := range photos {
		next <- p
	}
	close(next)
	wg.Wait()
	d.End = time.Now()
	return d
}

// accepted counts the photos whose last delivery was accepted.
func (d *driven) accepted() int {
	n := 0
	for _, a := range d.Final {
		if a.Accepted {
			n++
		}
	}
	return n
}

// count5xx counts the deliveries answered with a 5xx.
func (d *driven) count5xx() int {
	n := 0
	for code, c := range d.Status {
		if code >= 500 {
			n += c
		}
	}
	return n
}

// latencies returns the answer times of all deliveries, sorted.
func (d *driven) latencies() []time.Duration {
	out := make([]time.Duration, 0, len(d.Attempts))
	for _, a := range d.Attempts {
		if a.Err == nil {
			out = append(out, a.Took)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median of unsorted values.
func median[T int64 | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := append([]T(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
