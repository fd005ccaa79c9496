package storagetest

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"presign/storage"
)

// KeyLimiter is an optional capability of a backend that cannot store every key S3 allows: a
// gateway to another S3 service, say, whose stored names carry the bucket and escapes besides
// the key and must stay within that service's own 1024 bytes. KeyFits reports whether key can
// be stored in bucket; PutObject refuses a key that does not fit with a *storage.APIError of
// code KeyTooLongError. The suite shortens its longest test keys until they fit, and checks
// the refusal.
type KeyLimiter interface {
	KeyFits(bucket, key string) bool
}

// fitKeys returns keys with each one the backend cannot store in bucket shortened, by its
// last characters, until it fits.
func fitKeys(be storage.Backend, bucket string, keys []string) []string {
	kl, ok := be.(KeyLimiter)
	if !ok {
		return keys
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		for len(k) > 1 && !kl.KeyFits(bucket, k) {
			_, n := utf8.DecodeLastRuneInString(k)
			k = k[:len(k)-n]
		}
		out[i] = k
	}
	return out
}

func testTooLongKeyRefused(t *testing.T, be storage.Backend) {
	kl, ok := be.(KeyLimiter)
	if !ok {
		t.Skip("the backend stores every key S3 allows")
	}
	bucket := newBucket(t, be)
	key := strings.Repeat("k", storage.MaxKeyLength)
	if kl.KeyFits(bucket, key) {
		t.Skip("the backend stores keys of S3's full length")
	}
	for _, size := range []int{smallSize, largeSize} {
		_, err := be.PutObject(t.Context(), bucket, key, newBody(content(key, size)), storage.PutOptions{})
		var ae *storage.APIError
		if !errors.As(err, &ae) || ae.Code != "KeyTooLongError" {
			t.Fatalf("PutObject of a key that does not fit (%d bytes): error = %v, want KeyTooLongError", size, err)
		}
	}
	wantMissing(t, be, bucket, key)
	if keys := listAll(t, be, bucket); len(keys) != 0 {
		t.Fatalf("a refused key left %q listed", keys)
	}
}
