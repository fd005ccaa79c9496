package s3backend

import (
	"context"

	"presign/storage"
)

var _ storage.BucketCORSStore = (*Backend)(nil)

// PutBucketCORS implements storage.BucketCORSStore: the configuration is an object of its own
// beside the bucket's marker.
func (b *Backend) PutBucketCORS(ctx context.Context, bucket string, cfg []byte) error {
	return b.putBucketConfig(ctx, bucket, b.corsName(bucket), cfg)
}

// GetBucketCORS implements storage.BucketCORSStore.
func (b *Backend) GetBucketCORS(ctx context.Context, bucket string) ([]byte, error) {
	return b.getBucketConfig(ctx, bucket, b.corsName(bucket), storage.ErrNoSuchCORSConfiguration)
}

// DeleteBucketCORS implements storage.BucketCORSStore.
func (b *Backend) DeleteBucketCORS(ctx context.Context, bucket string) error {
	return b.deleteBucketConfig(ctx, bucket, b.corsName(bucket))
}
