package gcsv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"sync/atomic"
	"time"
)

// AlgorithmHMAC is the X-Goog-Algorithm of a V4 URL signed with an HMAC key.
const AlgorithmHMAC = "GOOG4-HMAC-SHA256"

// HMACSigner signs with one HMAC key of Cloud Storage (an access ID and its secret, made for a
// service account): the URLs it signs carry that service account's rights. An HMAC costs
// microseconds where an RSA-2048 signature costs most of a millisecond. It is safe for
// concurrent use.
type HMACSigner struct {
	// AccessID is the key's access ID (the credential's id, GOOG1…).
	AccessID string
	secret   string
	// day holds the signing key of the last day signed for: it is derived once a day, not
	// once a URL.
	day atomic.Pointer[dayKey]
}

type dayKey struct {
	day string
	key []byte
}

// NewHMACSigner returns a signer with the HMAC key accessID and secret; both are required.
func NewHMACSigner(accessID, secret string) (*HMACSigner, error) {
	if accessID == "" || secret == "" {
		return nil, errors.New("gcsv4: an HMAC key needs both its access ID and its secret")
	}
	if strings.TrimSpace(secret) != secret || strings.TrimSpace(accessID) != accessID {
		return nil, errors.New("gcsv4: the HMAC key's access ID or secret has surrounding white space")
	}
	return &HMACSigner{AccessID: accessID, secret: secret}, nil
}

// String names the key by its access ID only, so that a signer printed never shows its secret.
func (s *HMACSigner) String() string { return "gcsv4.HMACSigner{" + s.AccessID + "}" }

// GoString is String, for %#v.
func (s *HMACSigner) GoString() string { return s.String() }

// Sign signs r at now for ttl (1 s to MaxExpires).
func (s *HMACSigner) Sign(r Request, now time.Time, ttl time.Duration) (Signed, error) {
	d, err := prepare(r, now, ttl, AlgorithmHMAC, s.AccessID)
	if err != nil {
		return Signed{}, err
	}
	m := hmac.New(sha256.New, s.signingKey(d.day))
	m.Write([]byte(d.stringToSign))
	return d.signed(m.Sum(nil)), nil
}

// signingKey is the key of day (YYYYMMDD): HMAC-SHA256 chained from "GOOG4"+secret through the
// scope's date, location, service and "goog4_request", the secret taken as its text (not
// base64-decoded).
func (s *HMACSigner) signingKey(day string) []byte {
	if k := s.day.Load(); k != nil && k.day == day {
		return k.key
	}
	k := []byte("GOOG4" + s.secret)
	for _, part := range []string{day, location, service, terminator} {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(part))
		k = m.Sum(nil)
	}
	s.day.Store(&dayKey{day: day, key: k})
	return k
}
