package storage

import (
	"context"
	"errors"
)

// BucketCORSStore is an optional capability of a Backend: it keeps each bucket's CORS
// configuration durably. The Server discovers it with a type assertion; without it the bucket
// CORS operations answer NotImplemented and only Config.DefaultCORS applies.
//
// The configuration is opaque to the store: the Server validates it and hands over its own
// canonical encoding. Implementations must be safe for concurrent use, and must forget a
// bucket's configuration when the bucket is deleted, so that a new bucket of the same name
// starts without one.
type BucketCORSStore interface {
	// PutBucketCORS replaces the configuration of bucket; it is durable when PutBucketCORS
	// returns nil. ErrNoSuchBucket.
	PutBucketCORS(ctx context.Context, bucket string, cfg []byte) error
	// GetBucketCORS returns the configuration of bucket. ErrNoSuchBucket, and
	// ErrNoSuchCORSConfiguration when the bucket has none.
	GetBucketCORS(ctx context.Context, bucket string) ([]byte, error)
	// DeleteBucketCORS removes the configuration of bucket durably; removing none is not an
	// error. ErrNoSuchBucket.
	DeleteBucketCORS(ctx context.Context, bucket string) error
}

// ErrNoSuchCORSConfiguration is returned by BucketCORSStore.GetBucketCORS for a bucket without
// a CORS configuration.
var ErrNoSuchCORSConfiguration = errors.New("storage: no CORS configuration")
