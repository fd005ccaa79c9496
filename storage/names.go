package storage

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is S3's limit on an object key, in bytes of UTF-8.
const MaxKeyLength = 1024

// validBucketName applies S3's rules for new buckets: 3 to 63 characters of lower-case
// letters, digits, '.' and '-', starting and ending with a letter or digit, no "..", not an
// IP address.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
		default:
			return false
		}
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	_, err := netip.ParseAddr(name)
	return err != nil
}

// checkKey accepts any valid UTF-8 of 1 to 1024 bytes without NUL. Keys are never used as
// file names, so "../x", "a" beside "a/b", spaces and the like are all ordinary keys.
func checkKey(key string) error {
	if len(key) > MaxKeyLength {
		return errKeyTooLong
	}
	if key == "" || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return errInvalidKey
	}
	return nil
}
