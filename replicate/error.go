package replicate

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/photobot/photobot/pipeline"
)

// Error is an error answered by the API (RFC 7807 problem details), or a
// failure to reach it (Status 0).
type Error struct {
	Op         string
	Status     int
	Title      string
	Detail     string
	RetryAfter time.Duration
	err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("replicate " + e.Op + ": ")
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status) + " ")
	}
	if e.Title != "" {
		b.WriteString(e.Title)
		if e.Detail != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Detail)
	return b.String()
}

func (e *Error) Unwrap() error { return e.err }

// Permanent reports whether the request itself was refused (4xx other
// than 408 and 429): retrying it cannot help.
func (e *Error) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout
}

// Unreachable reports whether the API was not reached at all (connection
// refused, DNS failure, timeout), as opposed to answering.
func (e *Error) Unreachable() bool { return e.Status == 0 && e.err != nil }

// rejected: the model refused the input (422 "Input validation failed"),
// as opposed to a request that names a version it cannot run.
func (e *Error) rejected() bool {
	return e.Status == http.StatusUnprocessableEntity && !strings.Contains(strings.ToLower(e.Title), "version")
}

// Is sorts the failure for the core: pipeline.ErrRejected (the input) or
// pipeline.ErrConfig (the token, the model: the operator's to fix), and
// among those the ones that alert the admins: ErrNoCredit (402),
// ErrTokenRefused (401), ErrModelGone (404, 422 naming the version).
func (e *Error) Is(target error) bool {
	switch target {
	case pipeline.ErrRejected:
		return e.rejected()
	case pipeline.ErrConfig:
		return e.Permanent() && !e.rejected()
	case pipeline.ErrNoCredit:
		return e.Status == http.StatusPaymentRequired
	case pipeline.ErrTokenRefused:
		return e.Status == http.StatusUnauthorized
	case pipeline.ErrModelGone:
		return e.Status == http.StatusNotFound || e.Status == http.StatusUnprocessableEntity && !e.rejected()
	}
	return false
}

// Reason is what the model said of the input it refused.
func (e *Error) Reason() string { return e.Detail }

// IsPermanent reports whether err is a permanent API failure.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}
