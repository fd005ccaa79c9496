package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// defaultMaxParts replaces a ListPartsOptions.MaxParts or ListUploadsOptions.MaxUploads below
// 1, as S3 does when it is absent.
const defaultMaxParts = 1000

// ListParts implements storage.Multiparter.
func (b *Backend) ListParts(ctx context.Context, bucket, key, uploadID string, opts storage.ListPartsOptions) (storage.PartsPage, error) {
	if err := b.begin(); err != nil {
		return storage.PartsPage{}, err
	}
	defer b.ops.Done()
	maxParts := opts.MaxParts
	if maxParts < 1 {
		maxParts = defaultMaxParts
	}
	var page storage.PartsPage
	err := b.db.View(func(tx *bolt.Tx) error {
		u, err := findUpload(tx, bucket, key, uploadID)
		if err != nil {
			return err
		}
		page.Upload = u.info(bucket, key, uploadID)
		parts := tx.Bucket(partsRoot).Bucket([]byte(uploadID))
		if parts == nil {
			return fmt.Errorf("upload %s: %w: no parts bucket", uploadID, errCorrupt)
		}
		c := parts.Cursor()
		var k, v []byte
		if opts.After < 1 {
			k, v = c.First()
		} else if opts.After < storage.MaxParts {
			k, v = c.Seek(partKey(opts.After + 1))
		}
		for ; k != nil; k, v = c.Next() {
			if len(page.Parts) == maxParts {
				page.Truncated = true
				page.NextAfter = page.Parts[len(page.Parts)-1].Number
				return nil
			}
			p, err := decodePart(v)
			if err != nil || len(k) != 2 {
				return fmt.Errorf("upload %s part %x: %w", uploadID, k, errCorrupt)
			}
			page.Parts = append(page.Parts, p.info(int(binary.BigEndian.Uint16(k))))
		}
		return nil
	})
	if err != nil {
		return storage.PartsPage{}, err
	}
	return page, nil
}

// ListMultipartUploads implements storage.Multiparter. It walks uploads/<bucket> in key order
// from the markers on, jumping over each group reported as a common prefix with one Seek, as
// ListObjects does.
func (b *Backend) ListMultipartUploads(ctx context.Context, bucket string, opts storage.ListUploadsOptions) (storage.UploadsPage, error) {
	if err := b.begin(); err != nil {
		return storage.UploadsPage{}, err
	}
	defer b.ops.Done()
	maxUploads := opts.MaxUploads
	if maxUploads < 1 {
		maxUploads = defaultMaxParts
	}
	prefix := []byte(opts.Prefix)
	var page storage.UploadsPage
	err := b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(objectsRoot).Bucket([]byte(bucket)) == nil {
			return storage.ErrNoSuchBucket
		}
		ups := tx.Bucket(uploadsRoot).Bucket([]byte(bucket))
		// No key holds a NUL, so no key starts with a prefix that does.
		if ups == nil || bytes.IndexByte(prefix, 0) >= 0 {
			return nil
		}
		c := ups.Cursor()
		// The first entry after the markers: after the given upload of KeyMarker, or after
		// every upload of KeyMarker (its entries are KeyMarker NUL <id>, all below
		// KeyMarker 0x01).
		var start []byte
		switch {
		case opts.KeyMarker == "":
		case opts.UploadIDMarker != "":
			start = uploadKey(opts.KeyMarker, opts.UploadIDMarker)
		default:
			start = append([]byte(opts.KeyMarker), 1)
		}
		if bytes.Compare(prefix, start) > 0 {
			start = prefix
		}
		k, v := c.Seek(start)
		if opts.UploadIDMarker != "" && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		// A common prefix is new on this page only if it sorts after KeyMarker: otherwise
		// KeyMarker lies inside it, and an earlier page reported it.
		n := 0
		for k != nil && bytes.HasPrefix(k, prefix) {
			key, id, ok := splitUploadKey(k)
			if !ok {
				return fmt.Errorf("uploads of %s: %w: key %q", bucket, errCorrupt, k)
			}
			if n == maxUploads {
				page.Truncated = true
				return nil
			}
			if i := strings.Index(key[len(prefix):], opts.Delimiter); opts.Delimiter != "" && i >= 0 {
				cp := key[:len(prefix)+i+len(opts.Delimiter)]
				if cp > opts.KeyMarker {
					page.CommonPrefixes = append(page.CommonPrefixes, cp)
					page.NextKeyMarker, page.NextUploadIDMarker = cp, ""
					n++
				}
				end := prefixEnd([]byte(cp))
				if end == nil {
					return nil
				}
				k, v = c.Seek(end)
				continue
			}
			u, err := decodeUpload(v)
			if err != nil {
				return fmt.Errorf("upload %s: %w", id, err)
			}
			page.Uploads = append(page.Uploads, u.info(bucket, key, id))
			page.NextKeyMarker, page.NextUploadIDMarker = key, id
			n++
			k, v = c.Next()
		}
		return nil
	})
	if err != nil {
		return storage.UploadsPage{}, err
	}
	if !page.Truncated {
		page.NextKeyMarker, page.NextUploadIDMarker = "", ""
	}
	return page, nil
}
