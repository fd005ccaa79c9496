package control

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// crockford is the alphabet of identifiers: Crockford's base32 in lower case, which has no
// letters that read like digits and needs no escaping in a URL or an object key.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// newID returns a 26-character identifier that sorts by creation time: 48 bits of milliseconds
// then 80 random bits (a lower-case ULID). Time order keeps inserts at the end of the store's
// primary-key index; the random part makes ids unguessable and unique across replicas.
func newID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	var out [26]byte
	// 128 bits in 26 groups of 5 bits, the first group holding the top 3 bits.
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// newSecret returns a bearer secret with the prefix, e.g. "pss_" for sessions: 32 random bytes
// in unpadded base64url. The prefix lets secret scanners and people tell what a leaked string is.
func newSecret(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// secretHash is what the store keeps of a bearer secret. The secrets carry 256 random bits, so a
// plain SHA-256 is enough: there is nothing to guess that a slow hash would protect.
func secretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
