package sigv2

import (
	"crypto/hmac"
	"crypto/sha1"
	"strings"
	"testing"
)

// TestSignIsHMACSHA1 checks the allocation-free HMAC against crypto/hmac, for keys shorter
// than, equal to and longer than SHA-1's block.
func TestSignIsHMACSHA1(t *testing.T) {
	for _, n := range []int{0, 1, 40, 63, 64, 65, 200} {
		secret := strings.Repeat("k", n)
		msg := []byte(strings.Repeat("GET\n/bucket/key\n", n%7+1))
		m := hmac.New(sha1.New, []byte(secret))
		m.Write(msg)
		want := m.Sum(nil)
		if got := sign(secret, msg); !hmac.Equal(got[:], want) {
			t.Fatalf("key of %d bytes: %x, want %x", n, got, want)
		}
	}
}
