package s3store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/photobot/photobot/pipeline"
)

// opError is every error s3store returns after a request: one line that
// names the operation and the key, says what went wrong in the operator's
// terms and, when there is one, ends with the remedy (also given alone by
// Hint). It never holds the secret key, a request id, an XML body or a
// presigned URL. It wraps the pipeline sentinel that applies and the cause
// (minio.ErrorResponse, a net error, a context error) for errors.Is/As.
type opError struct {
	op   string // "get", "put", ...; "" for CheckBucket, whose msg says it all
	key  string // the key, or the bucket or prefix for bucket-wide calls
	msg  string
	hint string
	errs []error
}

func (e *opError) Error() string {
	var b strings.Builder
	b.WriteString("s3store: ")
	if e.op != "" {
		b.WriteString(e.op)
		if e.key != "" {
			b.WriteString(" " + e.key)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	if e.hint != "" {
		b.WriteString(": " + e.hint)
	}
	return b.String()
}

func (e *opError) Unwrap() []error { return e.errs }

// Hint returns what the operator should do about err (an error of this
// package, possibly wrapped), or "" when there is nothing to say: "create
// it, or check S3_BUCKET", "set S3_REGION=ru-central1", and so on. The
// error's own message ends with the same text, so that an error printed
// alone is complete; a caller that prints the hint on a line of its own
// can cut it off the message with strings.TrimSuffix(msg, ": "+hint).
func Hint(err error) string {
	var e *opError
	if errors.As(err, &e) {
		return e.hint
	}
	return ""
}

// failed turns an error of minio-go into an *opError. A request that the
// store refused for good (4xx other than the answers to conditional
// writes, a missing key and throttling; a missing bucket) also wraps
// pipeline.ErrRefused.
func (s *Store) failed(op, key string, err error) error {
	e := &opError{op: op, key: key, errs: []error{err}}
	var refused bool
	e.msg, e.hint, refused = s.explain(err)
	if refused {
		e.errs = append([]error{pipeline.ErrRefused}, e.errs...)
	}
	return e
}

// explain says what err means for the operator.
func (s *Store) explain(err error) (msg, hint string, refused bool) {
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode != 0 {
		return s.explainAnswer(er)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error(), "", false
	case errors.Is(err, context.DeadlineExceeded):
		// minio-go returns the bare context error once the context has
		// ended, whatever the last attempt met.
		return fmt.Sprintf("no answer from S3_ENDPOINT_URL %s in time (%s)", s.endpoint, context.DeadlineExceeded), "", false
	}
	if cause, dial := networkCause(err); cause != "" {
		if dial {
			return fmt.Sprintf("cannot reach S3_ENDPOINT_URL %s: %s", s.endpoint, cause), unreachable, false
		}
		return fmt.Sprintf("request to S3_ENDPOINT_URL %s failed: %s", s.endpoint, cause), "", false
	}
	return oneLine(err.Error()), "", false
}

// unreachable is the hint for an endpoint that does not answer.
const unreachable = "check S3_ENDPOINT_URL, and that this machine can reach it"

// Codes of answers that mean the request was signed for the wrong region.
var regionCodes = map[string]bool{
	"AuthorizationHeaderMalformed":        true, // "the region 'x' is wrong; expecting 'y'"
	"InvalidRegion":                       true,
	"IllegalLocationConstraintException":  true,
	"PermanentRedirect":                   true, // AWS: the bucket is elsewhere
	"AuthorizationQueryParametersError":   true,
	"SignatureDoesNotMatchRegionMismatch": true,
}

// expecting finds the region an answer asks for in its message, as AWS,
// Yandex and MinIO word it ("expecting 'ru-central1'"; minio-go's own:
// "expecting region ‘ru-central1’").
var expecting = regexp.MustCompile(`expecting (?:region )?['‘"]([a-z0-9-]+)['’"]`)

func (s *Store) explainAnswer(er minio.ErrorResponse) (msg, hint string, refused bool) {
	status := strconv.Itoa(er.StatusCode)
	code := strings.TrimSpace(strings.TrimPrefix(er.Code, status)) // "502 Bad Gateway" when the body was not XML
	answer := status
	if code != "" {
		answer += " " + code
	}
	c := er.StatusCode
	refused = c >= 400 && c < 500 && c != 404 && c != 408 && c != 409 && c != 412 && c != 429

	if er.Code == "NoSuchBucket" {
		return fmt.Sprintf("bucket %s does not exist at %s", s.bucket, s.endpoint),
			"create it, or check S3_BUCKET", true
	}
	want := er.Region
	if m := expecting.FindStringSubmatch(er.Message); m != nil {
		want = m[1]
	}
	if regionCodes[er.Code] && (want != "" || strings.Contains(strings.ToLower(er.Message), "region")) ||
		want != "" && want != s.region && (c == 301 || c == 400 || c == 403) {
		if want == "" || want == s.region {
			return fmt.Sprintf("the requests are signed for region %s, which bucket %s at %s refuses (%s)", s.region, s.bucket, s.endpoint, answer),
				"check S3_REGION", true
		}
		return fmt.Sprintf("bucket %s at %s is in region %s, not %s (%s)", s.bucket, s.endpoint, want, s.region, answer),
			"set S3_REGION=" + want, true
	}
	switch {
	case er.Code == "InvalidAccessKeyId":
		return fmt.Sprintf("access key id %s is unknown at %s (%s)", s.keyID, s.endpoint, answer),
			"check AWS_ACCESS_KEY_ID: it must be a static access key of a service account that has storage.editor on bucket " + s.bucket, true
	case er.Code == "SignatureDoesNotMatch":
		return fmt.Sprintf("the secret key is not that of access key id %s (%s)", s.keyID, answer),
			"check AWS_SECRET_ACCESS_KEY: it must be the secret of access key id " + s.keyID + ", whose service account needs storage.editor on bucket " + s.bucket, true
	case er.Code == "AccessDenied" || c == http.StatusForbidden:
		return fmt.Sprintf("access denied to bucket %s for access key id %s (%s)", s.bucket, s.keyID, answer),
			"the service account of access key id " + s.keyID + " needs storage.editor on bucket " + s.bucket, true
	}
	if m := cleanMessage(er.Message, er.Code); m != "" {
		answer += ": " + m
	}
	return answer, "", refused
}

// cleanMessage returns an S3 error message fit for one line, or "" when
// it is noise: an HTML or XML body that minio-go keeps as the message
// when it could not parse it, or a repetition of the code.
func cleanMessage(m, code string) string {
	m = oneLine(m)
	if strings.ContainsAny(m, "<>") || m == code || strings.HasPrefix(code, m) {
		return ""
	}
	return m
}

// oneLine squeezes whitespace and cuts s to 200 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// networkCause returns the short cause of a failed request, and whether
// the endpoint could not be reached at all (DNS, connect, TLS), or "" when
// err is no network error.
func networkCause(err error) (cause string, dial bool) {
	var (
		dnsErr   *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		opErr    *net.OpError
		netErr   net.Error
		urlErr   *url.Error
		tlsAlert tls.AlertError
	)
	switch {
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name + " (" + dnsErr.Err + ")", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host", true
	case errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return "TLS: " + innermost(err), true
	case errors.As(err, &verify):
		return "TLS: " + verify.Err.Error(), true
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS: the endpoint does not speak TLS (http:// rather than https://?)", true
	case errors.As(err, &tlsAlert):
		return "TLS: " + tlsAlert.Error(), true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return innermost(err), true
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out (" + innermost(err) + ")", strings.Contains(err.Error(), "TLS handshake")
	case errors.As(err, &urlErr):
		m := innermost(err)
		if strings.HasPrefix(m, "Connection closed by foreign host") { // minio-go's words for EOF, with the URL
			m = "connection closed by the server"
		}
		return m, false
	}
	return "", false
}

// innermost is the message of the deepest error err wraps: the cause
// without the chain of operations and URLs around it.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return oneLine(err.Error())
		}
		err = next
	}
}

// statusCode returns the HTTP status of a failed S3 call, or 0 when no
// answer arrived.
func statusCode(err error) int {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode
	}
	return 0
}

// keyMissing reports whether err is a 404 about the key (not the bucket).
func keyMissing(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"
}
