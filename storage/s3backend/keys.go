package s3backend

import (
	"errors"
	"strings"
)

// Node keys are arbitrary UTF-8 ("../x", "a" beside "a/", "a//b", "back\slash"), but several
// S3 services keep objects in a file tree and refuse or rewrite such keys: SeaweedFS rejects
// "../x", folds "a//b" into "a/b", turns '\' into '/', and cannot hold "a/" beside "a". So a
// node key is stored under an escaped name with no '/' at all: one flat name per object, which
// every S3 service stores as given.
//
// The escape is a prefix code chosen to keep byte order and prefixes: '.' becomes ".-", '/'
// becomes ".|", '[' becomes "[[" and '\' becomes "[|"; every other byte stands for itself.
// Each escape starts with a byte that sorts exactly where the escaped bytes did (nothing lies
// between '.' and '/', nor between '[' and '\'), so escaped names sort as the keys do, and the
// name of a prefix is a prefix of the names of its keys. Listings by prefix and after a key
// map onto the service's own listings unchanged. No escaped name is "." or "..", or contains
// "/" or "\".
const (
	escDot     = '.'
	escBracket = '['
)

// encodeKey returns the stored name of a node key (or of any string: bucket names and
// prefixes are escaped the same way).
func encodeKey(key string) string {
	n := 0
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '.', '/', '[', '\\':
			n++
		}
	}
	if n == 0 {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + n)
	for i := 0; i < len(key); i++ {
		switch c := key[i]; c {
		case '.':
			b.WriteString(".-")
		case '/':
			b.WriteString(".|")
		case '[':
			b.WriteString("[[")
		case '\\':
			b.WriteString("[|")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// errBadName reports a stored name that encodeKey cannot have produced: the backend bucket
// holds something presign did not write there.
var errBadName = errors.New("s3backend: stored name is not an escaped key")

// decodeKey inverts encodeKey.
func decodeKey(name string) (string, error) {
	if strings.ContainsAny(name, "/\\") {
		return "", errBadName
	}
	if strings.IndexByte(name, escDot) < 0 && strings.IndexByte(name, escBracket) < 0 {
		return name, nil
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != escDot && c != escBracket {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(name) {
			return "", errBadName
		}
		i++
		switch [2]byte{c, name[i]} {
		case [2]byte{'.', '-'}:
			b.WriteByte('.')
		case [2]byte{'.', '|'}:
			b.WriteByte('/')
		case [2]byte{'[', '['}:
			b.WriteByte('[')
		case [2]byte{'[', '|'}:
			b.WriteByte('\\')
		default:
			return "", errBadName
		}
	}
	return b.String(), nil
}

// maxNameLength is the longest stored name: S3's limit on a key, which S3-compatible services
// apply as well.
const maxNameLength = 1024

// Stored names. Node buckets are folders of the service bucket: the object key of bucket/key
// is <prefix><escaped bucket>/<escaped key>. What the node keeps about a bucket itself lives
// under <prefix>_presign/, a folder no node bucket can have, as bucket names have no '_'.
func (b *Backend) objectDir(bucket string) string {
	return b.prefix + encodeKey(bucket) + "/"
}

// objectName is the stored name of bucket/key; errKeyTooLong when it would pass the service's
// limit.
func (b *Backend) objectName(bucket, key string) (string, error) {
	name := b.objectDir(bucket) + encodeKey(key)
	if len(name) > maxNameLength {
		return "", errKeyTooLong
	}
	return name, nil
}

// KeyFits reports whether the backend can store key in bucket: its stored name, which adds
// the bucket and escapes, must stay within the service's 1024 bytes.
func (b *Backend) KeyFits(bucket, key string) bool {
	_, err := b.objectName(bucket, key)
	return err == nil
}

func (b *Backend) markerDir() string { return b.prefix + "_presign/buckets/" }

func (b *Backend) markerName(bucket string) string { return b.markerDir() + bucket }

func (b *Backend) corsName(bucket string) string { return b.prefix + "_presign/cors/" + bucket }
