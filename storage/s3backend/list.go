package s3backend

import (
	"context"
	"fmt"
	"strings"

	"presign/storage"
)

// ListObjects implements storage.Backend. Prefix and After map onto the service's listing of
// escaped names directly (escaping keeps order and prefixes); common prefixes are found here,
// as escaped names hold no '/' for the service's own delimiter to act on. A common prefix is
// reported once and the listing then skips past the names under it.
func (b *Backend) ListObjects(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListPage, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return storage.ListPage{}, err
	}
	maxKeys := max(opts.MaxKeys, 1)
	dir := b.objectDir(bucket)
	marker := ""
	if opts.After != "" {
		marker = dir + encodeKey(opts.After)
	}
	var (
		page   storage.ListPage
		count  int
		lastCP string
	)
	err := b.scan(ctx, dir+encodeKey(opts.Prefix), marker, func(e entry) (bool, string) {
		key, err := decodeKey(strings.TrimPrefix(e.name, dir))
		if err != nil {
			// Not written by a node; another S3 client put it there.
			b.log.Warn("s3backend: skipping a foreign name in a bucket folder", "name", e.name)
			return true, ""
		}
		if key <= opts.After {
			return true, ""
		}
		cp := commonPrefix(key, opts.Prefix, opts.Delimiter)
		skip := ""
		if cp != "" {
			skip = dir + encodeKey(cp) + maxRune
			if cp <= opts.After || cp == lastCP {
				return true, skip
			}
		}
		if count == maxKeys {
			page.Truncated = true
			return false, ""
		}
		count++
		if cp != "" {
			lastCP = cp
			page.CommonPrefixes = append(page.CommonPrefixes, cp)
			page.NextAfter = cp
			return true, skip
		}
		page.Objects = append(page.Objects, storage.ObjectInfo{
			Bucket: bucket, Key: key, Size: e.size, ETag: e.etag, LastModified: e.lastModified,
		})
		page.NextAfter = key
		return true, ""
	})
	if err != nil {
		return storage.ListPage{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	if !page.Truncated {
		page.NextAfter = ""
	}
	return page, nil
}

// commonPrefix is the part of key up to and including the first delimiter after prefix, or ""
// when the key has none there (or no delimiter is asked for).
func commonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" {
		return ""
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return ""
	}
	return key[:len(prefix)+i+len(delimiter)]
}
