package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// ErrInvalidBucket is returned by CreateBucket for an empty name or one longer than 255 bytes.
// The HTTP face checks S3's naming rules; this only keeps the index sound.
var ErrInvalidBucket = errors.New("disk: bucket name empty or longer than 255 bytes")

// CreateBucket implements storage.Backend.
func (b *Backend) CreateBucket(ctx context.Context, bucket string) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.ops.Done()
	if len(bucket) == 0 || len(bucket) > 255 {
		return ErrInvalidBucket
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := []byte(bucket)
	return b.commit.do(func(tx *bolt.Tx) error {
		buckets := tx.Bucket(bucketsRoot)
		if buckets.Get(name) != nil {
			return refuse(storage.ErrBucketExists)
		}
		created := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		if err := buckets.Put(name, created); err != nil {
			return err
		}
		_, err := tx.Bucket(objectsRoot).CreateBucket(name)
		return err
	}, len(name))
}

// HeadBucket implements storage.Backend.
func (b *Backend) HeadBucket(ctx context.Context, bucket string) (storage.BucketInfo, error) {
	if err := b.begin(); err != nil {
		return storage.BucketInfo{}, err
	}
	defer b.ops.Done()
	var info storage.BucketInfo
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketsRoot).Get([]byte(bucket))
		if v == nil {
			return storage.ErrNoSuchBucket
		}
		info = bucketInfo(bucket, v)
		return nil
	})
	return info, err
}

// DeleteBucket implements storage.Backend.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.ops.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	name := []byte(bucket)
	var parts []string
	err := b.commit.do(func(tx *bolt.Tx) error {
		objs := tx.Bucket(objectsRoot)
		bk := objs.Bucket(name)
		if bk == nil {
			return refuse(storage.ErrNoSuchBucket)
		}
		if k, _ := bk.Cursor().First(); k != nil {
			return refuse(storage.ErrBucketNotEmpty)
		}
		var err error
		if parts, err = dropBucketUploads(tx, name); err != nil {
			return err
		}
		if err := objs.DeleteBucket(name); err != nil {
			return err
		}
		return tx.Bucket(bucketsRoot).Delete(name)
	}, len(name))
	if err != nil {
		return err
	}
	b.removeFiles(parts)
	return nil
}

// ListBuckets implements storage.Backend.
func (b *Backend) ListBuckets(ctx context.Context) ([]storage.BucketInfo, error) {
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.ops.Done()
	var list []storage.BucketInfo
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketsRoot).ForEach(func(k, v []byte) error {
			list = append(list, bucketInfo(string(k), v))
			return nil
		})
	})
	return list, err
}

func bucketInfo(name string, v []byte) storage.BucketInfo {
	info := storage.BucketInfo{Name: name}
	if len(v) == 8 {
		info.Created = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
	}
	return info
}
