package storage

import "testing"

// TestUserMetadataRFC2047 pins S3's rule for user metadata outside ASCII.
func TestUserMetadataRFC2047(t *testing.T) {
	for _, tc := range []struct{ sent, stored, returned string }{
		{"plain", "plain", "plain"},
		{"Hello Worldé", "Hello Worldé", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="},
		{"=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=", "Hello Worldé", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="},
		{"=?UTF-8?B?YWJjZGVmZw==?=", "abcdefg", "abcdefg"},
		{"=?utf-8?q?caf=C3=A9?=", "café", "=?UTF-8?B?Y2Fmw6k=?="},
		{"=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?="},
		{"a =? b", "a =? b", "a =? b"},
	} {
		stored := decodeMetaValue(tc.sent)
		if stored != tc.stored {
			t.Errorf("%q stored as %q, want %q", tc.sent, stored, tc.stored)
		}
		if got := encodeMetaValue(stored); got != tc.returned {
			t.Errorf("%q returned as %q, want %q", stored, got, tc.returned)
		}
	}
}
