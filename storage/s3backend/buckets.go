package s3backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// A node bucket exists while its marker object <prefix>_presign/buckets/<name> does: the
// marker is written with If-None-Match: *, so that of nodes creating one bucket at once exactly
// one succeeds, and its Last-Modified is the bucket's creation time.

// bucketTTL is how long this node trusts that a bucket it saw still exists. A bucket deleted
// through another node may take that long to refuse writes here.
const bucketTTL = time.Second

// bucketCache remembers buckets seen to exist, so that an object call does not ask the
// service about the bucket every time.
type bucketCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // bucket → until when it is trusted
	now  func() time.Time
}

func newBucketCache(now func() time.Time) *bucketCache {
	return &bucketCache{seen: make(map[string]time.Time), now: now}
}

func (c *bucketCache) has(bucket string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.seen[bucket]
	return ok && c.now().Before(until)
}

func (c *bucketCache) add(bucket string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) > 10000 {
		clear(c.seen)
	}
	c.seen[bucket] = c.now().Add(bucketTTL)
}

func (c *bucketCache) remove(bucket string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, bucket)
}

// CreateBucket implements storage.Backend.
func (b *Backend) CreateBucket(ctx context.Context, bucket string) error {
	_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           aws.String(b.markerName(bucket)),
		Body:          bytes.NewReader(nil),
		ContentLength: aws.Int64(0),
		IfNoneMatch:   aws.String("*"),
	})
	if err != nil {
		err = b.mapErr(err)
		if errors.Is(err, storage.ErrPreconditionFailed) {
			return storage.ErrBucketExists
		}
		return fmt.Errorf("create bucket %q: %w", bucket, err)
	}
	b.buckets.add(bucket)
	return nil
}

// HeadBucket implements storage.Backend.
func (b *Backend) HeadBucket(ctx context.Context, bucket string) (storage.BucketInfo, error) {
	out, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.markerName(bucket))})
	if err != nil {
		if notFound(err) {
			b.buckets.remove(bucket)
			return storage.BucketInfo{}, storage.ErrNoSuchBucket
		}
		return storage.BucketInfo{}, fmt.Errorf("head bucket %q: %w", bucket, b.mapErr(err))
	}
	b.buckets.add(bucket)
	return storage.BucketInfo{Name: bucket, Created: aws.ToTime(out.LastModified).Truncate(time.Second)}, nil
}

// checkBucket returns storage.ErrNoSuchBucket unless bucket exists (or was seen to exist
// within bucketTTL).
func (b *Backend) checkBucket(ctx context.Context, bucket string) error {
	if b.buckets.has(bucket) {
		return nil
	}
	_, err := b.HeadBucket(ctx, bucket)
	return err
}

// DeleteBucket implements storage.Backend. A write racing with it through another node may
// still land in the bucket just deleted; such an object is listed again if the bucket is
// created anew.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	if _, err := b.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	empty := true
	err := b.scan(ctx, b.objectDir(bucket), "", func(entry) (bool, string) {
		empty = false
		return false, ""
	})
	if err != nil {
		return fmt.Errorf("delete bucket %q: %w", bucket, err)
	}
	if !empty {
		return storage.ErrBucketNotEmpty
	}
	// Uploads in progress go with the bucket, as on disk.
	ups, err := b.uploadsOf(ctx, bucket, "")
	if err != nil {
		return fmt.Errorf("delete bucket %q: %w", bucket, err)
	}
	for _, u := range ups {
		if err := b.AbortMultipartUpload(ctx, bucket, u.key, u.id); err != nil && !errors.Is(err, storage.ErrNoSuchUpload) {
			return fmt.Errorf("delete bucket %q: %w", bucket, err)
		}
	}
	b.buckets.remove(bucket)
	for _, name := range []string{b.corsName(bucket), b.policyName(bucket), b.markerName(bucket)} {
		if _, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(name)}); err != nil && !notFound(err) {
			return fmt.Errorf("delete bucket %q: %w", bucket, b.mapErr(err))
		}
	}
	return nil
}

// ListBuckets implements storage.Backend.
func (b *Backend) ListBuckets(ctx context.Context) ([]storage.BucketInfo, error) {
	var out []storage.BucketInfo
	dir := b.markerDir()
	err := b.scan(ctx, dir, "", func(e entry) (bool, string) {
		if name := strings.TrimPrefix(e.name, dir); !strings.Contains(name, "/") {
			out = append(out, storage.BucketInfo{Name: name, Created: e.lastModified.Truncate(time.Second)})
		}
		return true, ""
	})
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return out, nil
}
