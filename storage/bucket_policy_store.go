package storage

import (
	"context"
	"errors"
)

// BucketPolicyStore is an optional capability of a Backend: it keeps each bucket's policy
// durably. The Server discovers it with a type assertion; without it the bucket policy
// operations answer NotImplemented and no bucket can be read anonymously.
//
// The document is opaque to the store: the Server validates it (bucket_policy.go) and hands it
// over as the client wrote it, which is what GetBucketPolicy returns. Implementations must be
// safe for concurrent use, and must forget a bucket's policy when the bucket is deleted, so
// that a new bucket of the same name starts private.
type BucketPolicyStore interface {
	// PutBucketPolicy replaces the policy of bucket; it is durable when PutBucketPolicy
	// returns nil. ErrNoSuchBucket.
	PutBucketPolicy(ctx context.Context, bucket string, policy []byte) error
	// GetBucketPolicy returns the policy of bucket. ErrNoSuchBucket, and ErrNoSuchBucketPolicy
	// when the bucket has none.
	GetBucketPolicy(ctx context.Context, bucket string) ([]byte, error)
	// DeleteBucketPolicy removes the policy of bucket durably; removing none is not an error.
	// ErrNoSuchBucket.
	DeleteBucketPolicy(ctx context.Context, bucket string) error
}

// ErrNoSuchBucketPolicy is returned by BucketPolicyStore.GetBucketPolicy for a bucket without
// a policy.
var ErrNoSuchBucketPolicy = errors.New("storage: no bucket policy")
