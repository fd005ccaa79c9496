package disk

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// defaultMaxKeys replaces a ListOptions.MaxKeys below 1, as S3 does when it is absent.
const defaultMaxKeys = 1000

// ListObjects implements storage.Backend. It walks the bucket's keys in order from the first
// one after Prefix and After, and jumps over each group of keys reported as a common prefix
// with one Seek, so a page costs O(MaxKeys) steps however many keys the groups hold.
func (b *Backend) ListObjects(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListPage, error) {
	if err := b.begin(); err != nil {
		return storage.ListPage{}, err
	}
	defer b.ops.Done()
	maxKeys := opts.MaxKeys
	if maxKeys < 1 {
		maxKeys = defaultMaxKeys
	}
	prefix, delim, after := []byte(opts.Prefix), []byte(opts.Delimiter), []byte(opts.After)
	var page storage.ListPage
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(objectsRoot).Bucket([]byte(bucket))
		if bk == nil {
			return storage.ErrNoSuchBucket
		}
		c := bk.Cursor()
		var k, v []byte
		if bytes.Compare(after, prefix) >= 0 {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		} else {
			k, v = c.Seek(prefix)
		}
		n, last := 0, ""
		for k != nil && bytes.HasPrefix(k, prefix) {
			if n == maxKeys {
				page.Truncated, page.NextAfter = true, last
				return nil
			}
			if i := bytes.Index(k[len(prefix):], delim); len(delim) > 0 && i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				// Only the group at the start can sort before After: After lies inside it.
				if bytes.Compare(cp, after) > 0 {
					last = string(cp)
					page.CommonPrefixes = append(page.CommonPrefixes, last)
					n++
				}
				end := prefixEnd(cp)
				if end == nil {
					return nil
				}
				k, v = c.Seek(end)
				continue
			}
			rec, _, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", bucket, k, err)
			}
			last = string(k)
			page.Objects = append(page.Objects, rec.info(bucket, last))
			n++
			k, v = c.Next()
		}
		return nil
	})
	if err != nil {
		return storage.ListPage{}, err
	}
	return page, nil
}

// prefixEnd returns the least key greater than every key starting with p, or nil if there is
// none (p is all 0xff bytes).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
