package s3store

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/photobot/photobot/pipeline"
)

// CheckBucket verifies that the endpoint answers, the bucket exists and
// the keys may access it (HeadBucket).
func (s *Store) CheckBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	switch statusCode(err) {
	case 0:
		return fmt.Errorf("s3store: cannot reach endpoint %s: %w", s.endpoint, err)
	case http.StatusNotFound:
		return fmt.Errorf("s3store: bucket %s does not exist at %s: %w", s.bucket, s.endpoint, err)
	case http.StatusForbidden:
		return fmt.Errorf("s3store: access denied to bucket %s: check the keys: %w", s.bucket, err)
	}
	return fmt.Errorf("s3store: check bucket %s: %w", s.bucket, err)
}

// LifecycleRule expires objects under Prefix Days days after creation.
type LifecycleRule struct {
	ID     string
	Prefix string
	Days   int32
}

// PutLifecycle replaces the bucket's lifecycle configuration with rules.
// The request carries Content-MD5, which Yandex Object Storage requires.
func (s *Store) PutLifecycle(ctx context.Context, rules []LifecycleRule) error {
	var cfg types.BucketLifecycleConfiguration
	for _, r := range rules {
		if r.ID == "" || r.Days < 1 {
			return fmt.Errorf("s3store: lifecycle rule %+v: need an ID and Days >= 1", r)
		}
		cfg.Rules = append(cfg.Rules, types.LifecycleRule{
			ID:         aws.String(r.ID),
			Status:     types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{Prefix: aws.String(r.Prefix)},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(r.Days)},
		})
	}
	_, err := s.client.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket:                 aws.String(s.bucket),
		LifecycleConfiguration: &cfg,
	}, s3.WithAPIOptions(addContentMD5))
	if err != nil {
		return fmt.Errorf("s3store: put lifecycle of bucket %s: %w", s.bucket, err)
	}
	return nil
}

// GetLifecycle returns the bucket's expiration rules; none when no
// lifecycle is configured.
func (s *Store) GetLifecycle(ctx context.Context) ([]LifecycleRule, error) {
	out, err := s.client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{
		Bucket: aws.String(s.bucket),
	})
	if err != nil {
		if errorCode(err) == "NoSuchLifecycleConfiguration" {
			return nil, nil
		}
		return nil, fmt.Errorf("s3store: get lifecycle of bucket %s: %w", s.bucket, err)
	}
	var rules []LifecycleRule
	for _, r := range out.Rules {
		// Rules put by other tools (or Terraform's legacy form) may use
		// the top-level Prefix rather than Filter.Prefix.
		//lint:ignore SA1019 reading what others wrote, not writing it
		rule := LifecycleRule{ID: aws.ToString(r.ID), Prefix: aws.ToString(r.Prefix)}
		if r.Filter != nil && r.Filter.Prefix != nil {
			rule.Prefix = *r.Filter.Prefix
		}
		if r.Expiration != nil {
			rule.Days = aws.ToInt32(r.Expiration.Days)
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
	if _, err := s.Create(ctx, key, []byte(`{"n":1}`)); err != nil {
		return fmt.Errorf("s3store: conditional write check: first write: %w", err)
	}
	defer func() {
		if derr := s.Delete(ctx, key); derr != nil && err == nil {
			err = fmt.Errorf("s3store: conditional write check: clean up: %w", derr)
		}
	}()
	_, err = s.Create(ctx, key, []byte(`{"n":2}`))
	switch {
	case err == nil:
		return fmt.Errorf("s3store: the storage at %s ignores If-None-Match: * (a second create of %s succeeded); photobot needs conditional writes", s.endpoint, key)
	case errors.Is(err, pipeline.ErrExists):
		return nil
	}
	return fmt.Errorf("s3store: conditional write check: second write: %w", err)
}

// addContentMD5 adds the Content-MD5 header to a request. The SDK sends a
// CRC32 checksum instead for operations that require a checksum, but
// Yandex Object Storage insists on Content-MD5 for
// PutBucketLifecycleConfiguration.
func addContentMD5(stack *middleware.Stack) error {
	return stack.Build.Add(contentMD5{}, middleware.After)
}

type contentMD5 struct{}

func (contentMD5) ID() string { return "photobot:ContentMD5" }

func (contentMD5) HandleBuild(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (
	middleware.BuildOutput, middleware.Metadata, error,
) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("content-md5: unexpected request type %T", in.Request)
	}
	if stream := req.GetStream(); stream != nil {
		h := md5.New()
		if _, err := io.Copy(h, stream); err != nil {
			return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("content-md5: read body: %w", err)
		}
		if err := req.RewindStream(); err != nil {
			return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("content-md5: rewind body: %w", err)
		}
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(h.Sum(nil)))
	}
	return next.HandleBuild(ctx, in)
}
