package s3backend

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// DeleteObject implements storage.Backend. The service records a delete marker; the version
// removed stays readable for the Objects that have it open until Options.VersionGrace passed.
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return storage.ObjectInfo{}, err
	}
	name, err := b.objectName(bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, storage.ErrNoSuchKey
	}
	unlock := b.locks.lock(name)
	defer unlock()
	info, removed, err := b.head(ctx, bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	info.Sequencer = b.clock.next()
	out, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("delete %s/%s: %w", bucket, key, b.mapErr(err))
	}
	b.reaper.superseded(name, removed, aws.ToString(out.VersionId))
	return info, nil
}
