package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// Scope is a credential scope: the date, region and service a signature is valid for
// (<date>/<region>/<service>/aws4_request).
type Scope struct {
	Date    string // yyyymmdd
	Region  string
	Service string
}

// String returns the scope in its wire form, "<date>/<region>/<service>/aws4_request".
func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + terminator
}

const terminator = "aws4_request"

// SigningKey is a derived SigV4 signing key.
type SigningKey [sha256.Size]byte

// DeriveKey computes the signing key of secret for scope:
// HMAC chains "AWS4"+secret → date → region → service → "aws4_request".
func DeriveKey(secret string, s Scope) SigningKey {
	k := hmacSum([]byte("AWS4"+secret), s.Date)
	k = hmacSum(k[:], s.Region)
	k = hmacSum(k[:], s.Service)
	return hmacSum(k[:], terminator)
}

func hmacSum(key []byte, data string) SigningKey {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	var out SigningKey
	m.Sum(out[:0])
	return out
}

// KeyCache remembers derived signing keys per (secret, date, region, service), so that a
// verifier pays for the four-step derivation once per key and day. It is safe for concurrent
// use. The zero value is not usable; a nil *KeyCache derives every time.
type KeyCache struct {
	mu  sync.RWMutex
	m   map[keyID]SigningKey
	max int
}

type keyID struct {
	secret string
	scope  Scope
}

// NewKeyCache returns a cache holding at most max keys (at least 1); when full, an arbitrary
// key is dropped to make room.
func NewKeyCache(max int) *KeyCache {
	if max < 1 {
		max = 1
	}
	return &KeyCache{m: make(map[keyID]SigningKey), max: max}
}

// Key returns the signing key of secret for scope, deriving and caching it when needed.
func (c *KeyCache) Key(secret string, s Scope) SigningKey {
	if c == nil {
		return DeriveKey(secret, s)
	}
	id := keyID{secret, s}
	c.mu.RLock()
	k, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = DeriveKey(secret, s)
	c.mu.Lock()
	if len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

// Len reports how many keys the cache holds.
func (c *KeyCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
