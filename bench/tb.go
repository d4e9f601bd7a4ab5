package main

import (
	"fmt"
	"log"
	"sync"

	"github.com/photobot/photobot/internal/fake"
)

// commandTB lets the test fakes (internal/fake) and the MinIO starter
// (internal/miniotest) run inside this command: it is their small TB
// interface (fake.TB, which covers miniotest.TB), with fatal errors as
// panics that main recovers and cleanups run by close.
type commandTB struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// fatalError is what Fatal panics with; main recovers it, cleans up and
// exits non-zero.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

var _ fake.TB = (*commandTB)(nil)

func (c *commandTB) Helper() {}

func (c *commandTB) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

func (c *commandTB) Errorf(format string, args ...any) {
	c.setFailed()
	log.Printf(format, args...)
}

func (c *commandTB) Fatal(args ...any) {
	c.setFailed()
	panic(fatalError{fmt.Sprint(args...)})
}

func (c *commandTB) Fatalf(format string, args ...any) {
	c.setFailed()
	panic(fatalError{fmt.Sprintf(format, args...)})
}

func (c *commandTB) Failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *commandTB) setFailed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = true
}

// close runs the cleanups, last registered first, as testing does.
func (c *commandTB) close() {
	c.mu.Lock()
	fs := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
