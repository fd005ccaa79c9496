package disk

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// DeleteObject implements storage.Backend. The removal is committed durably before the
// object's file, if it has one, is removed; Objects already open keep reading it.
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := b.begin(); err != nil {
		return storage.ObjectInfo{}, err
	}
	defer b.ops.Done()
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	kb, bb := []byte(key), []byte(bucket)
	var (
		removed record
		files   []string
	)
	err := b.commit.do(func(tx *bolt.Tx) error {
		objs := tx.Bucket(objectsRoot)
		bk := objs.Bucket(bb)
		if bk == nil {
			return refuse(storage.ErrNoSuchBucket)
		}
		v := bk.Get(kb)
		if v == nil {
			return refuse(storage.ErrNoSuchKey)
		}
		var err error
		if removed, _, err = decodeRecord(v); err != nil {
			return fmt.Errorf("%s/%s: %w", bucket, key, err)
		}
		if files, err = releaseRecord(tx, bucket, key, v); err != nil {
			return err
		}
		if removed.seq, err = objs.NextSequence(); err != nil {
			return err
		}
		if err := bk.Delete(kb); err != nil {
			return err
		}
		return unmarkFiles(tx.Bucket(filesRoot), files)
	}, len(kb))
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	b.removeFiles(files)
	return removed.info(bucket, key), nil
}
