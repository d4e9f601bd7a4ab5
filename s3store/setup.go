package s3store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/photobot/photobot/pipeline"
)

// CheckBucket verifies that the endpoint answers, the bucket exists, the
// region is right and the keys may access it, by listing at most one key.
// Its errors say which of these failed, in S3_* terms, and end with the
// remedy (see Hint): "bucket X does not exist at E: create it, or check
// S3_BUCKET", "cannot reach S3_ENDPOINT_URL E: connection refused: ...",
// "access denied to bucket X for access key id K (403 AccessDenied): ...",
// "bucket X at E is in region R, not Q (...): set S3_REGION=R".
func (s *Store) CheckBucket(ctx context.Context) error {
	// A GET rather than HEAD bucket: an answer to HEAD has no body, so it
	// could not say which region S3 expects, or why access is denied.
	var err error
	for o := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{MaxKeys: 1, Recursive: true}) {
		err = o.Err
		break // one key is enough
	}
	if err == nil {
		err = ctx.Err() // the listing ends quietly when the context has
	}
	if err == nil {
		return nil
	}
	e := s.failed("", "", err).(*opError)
	if errors.Is(err, context.DeadlineExceeded) {
		// No answer at all: most often the endpoint is wrong or blocked.
		e.hint = unreachable
	}
	return e
}

// PutLifecycle replaces the bucket's lifecycle configuration with rules
// (no rules removes it). Each rule is written as Filter{Prefix} and
// Expiration{Days}. The request carries Content-MD5, which Yandex Object
// Storage requires (minio-go's SetBucketLifecycle always sends it).
func (s *Store) PutLifecycle(ctx context.Context, rules []pipeline.LifecycleRule) error {
	cfg := lifecycle.NewConfiguration()
	for _, r := range rules {
		if r.ID == "" || r.Days < 1 {
			return fmt.Errorf("s3store: lifecycle rule %+v: need an ID and Days >= 1", r)
		}
		cfg.Rules = append(cfg.Rules, lifecycle.Rule{
			ID:         r.ID,
			Status:     "Enabled",
			RuleFilter: lifecycle.Filter{Prefix: r.Prefix},
			Expiration: lifecycle.Expiration{Days: lifecycle.ExpirationDays(r.Days)},
		})
	}
	if err := s.client.SetBucketLifecycle(ctx, s.bucket, cfg); err != nil {
		return s.failed("put lifecycle of bucket", s.bucket, err)
	}
	return nil
}

// GetLifecycle returns the bucket's expiration rules; none, and no error,
// when no lifecycle is configured.
func (s *Store) GetLifecycle(ctx context.Context) ([]pipeline.LifecycleRule, error) {
	cfg, err := s.client.GetBucketLifecycle(ctx, s.bucket)
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchLifecycleConfiguration", "NoSuchBucketLifecycle": // S3's, older MinIO's
			return nil, nil
		}
		return nil, s.failed("get lifecycle of bucket", s.bucket, err)
	}
	var rules []pipeline.LifecycleRule
	for _, r := range cfg.Rules {
		// Rules put by other tools (or Terraform's legacy form) may use
		// the top-level Prefix rather than Filter.Prefix.
		rule := pipeline.LifecycleRule{ID: r.ID, Prefix: r.Prefix, Days: int32(r.Expiration.Days)}
		switch {
		case r.RuleFilter.Prefix != "":
			rule.Prefix = r.RuleFilter.Prefix
		case r.RuleFilter.And.Prefix != "":
			rule.Prefix = r.RuleFilter.And.Prefix
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// CheckConditionalWrites verifies that the storage honours If-None-Match: *
// (some S3-compatible stores silently ignore it): it creates a random key
// under setup/ twice and expects the second write to be refused.
func (s *Store) CheckConditionalWrites(ctx context.Context) (err error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	key := "setup/conditional-write-check-" + hex.EncodeToString(b) + ".json"
	// The store's errors name the operation and the key already.
	if _, err := s.Create(ctx, key, []byte(`{"n":1}`)); err != nil {
		return err
	}
	defer func() {
		if derr := s.Delete(ctx, key); derr != nil && err == nil {
			err = derr
		}
	}()
	_, err = s.Create(ctx, key, []byte(`{"n":2}`))
	switch {
	case err == nil:
		return fmt.Errorf("s3store: the storage at %s ignores If-None-Match: * (a second create of %s succeeded); photobot needs conditional writes", s.endpoint, key)
	case errors.Is(err, pipeline.ErrExists):
		return nil
	}
	return err
}
