package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"presign/extension"
)

// Headers of a delivery.
//
// X-Presign-Event-Id is the event's id: the same on every attempt to deliver the event, and
// different for every event. X-Presign-Signature is
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex>...]
//
// where each v1 is HMAC-SHA256(secret, "<t>.<event id>.<body>") with one of the sender's
// secrets (several while a secret is being rotated). Receivers ignore elements with other
// names, which leaves room for later schemes.
const (
	HeaderEventID   = extension.EventIDHeader
	HeaderSignature = extension.SignatureHeader
)

// DefaultTolerance is how far a delivery's timestamp may lie from the receiver's clock when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Bounds on untrusted input, so a hostile header costs little to reject.
const (
	maxHeaderLen  = 4096
	maxElements   = 16
	maxSignatures = 8
	maxIDLen      = 128
)

// Errors of Verify. Each error Verify returns wraps exactly one of them.
var (
	// ErrNoSecrets means Verify was given no non-empty secret: a configuration error.
	ErrNoSecrets = errors.New("events: no secret to verify with")
	// ErrNoSignature means the delivery has no X-Presign-Signature header.
	ErrNoSignature = errors.New("events: missing " + HeaderSignature + " header")
	// ErrMalformedSignature means the signature header cannot be parsed.
	ErrMalformedSignature = errors.New("events: malformed " + HeaderSignature + " header")
	// ErrNoEventID means the delivery has no X-Presign-Event-Id header.
	ErrNoEventID = errors.New("events: missing " + HeaderEventID + " header")
	// ErrBadEventID means the event id is not 1 to 128 characters of [A-Za-z0-9_-].
	ErrBadEventID = errors.New("events: malformed " + HeaderEventID + " header")
	// ErrSignatureMismatch means no signature matches any secret: the delivery is forged or was
	// changed on the way, or the secrets differ.
	ErrSignatureMismatch = errors.New("events: signature does not match")
	// ErrStaleTimestamp means the signature is genuine but older than the tolerance: a replay,
	// or a delivery that was held up for too long.
	ErrStaleTimestamp = errors.New("events: signature timestamp is too old")
	// ErrFutureTimestamp means the signature is genuine but dated further ahead than the
	// tolerance: the sender's clock is wrong.
	ErrFutureTimestamp = errors.New("events: signature timestamp is in the future")
)

// NewID returns a fresh random event id (26 characters, 128 bits of randomness).
func NewID() string {
	return rand.Text()
}

// CheckID reports whether id can be an event id: 1 to 128 characters of [A-Za-z0-9_-]. The
// signature covers the id, and the restricted alphabet keeps "<t>.<id>.<body>" unambiguous.
func CheckID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: length %d", ErrBadEventID, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: byte %d", ErrBadEventID, i)
		}
	}
	return nil
}

// Signature is a parsed X-Presign-Signature header.
type Signature struct {
	// Timestamp is the signing time in Unix seconds.
	Timestamp int64
	// V1 holds the HMAC-SHA256 values, 32 bytes each.
	V1 [][]byte
}

// String formats s as the header value.
func (s Signature) String() string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(s.Timestamp, 10))
	for _, v := range s.V1 {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(v))
	}
	return b.String()
}

// ParseSignature parses an X-Presign-Signature header value. It needs exactly one t element
// and at least one v1 element; elements with other names are skipped. Spaces around elements
// are allowed.
func ParseSignature(value string) (Signature, error) {
	if len(value) > maxHeaderLen {
		return Signature{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformedSignature, maxHeaderLen)
	}
	var s Signature
	haveT := false
	elements := strings.Split(value, ",")
	if len(elements) > maxElements {
		return Signature{}, fmt.Errorf("%w: more than %d elements", ErrMalformedSignature, maxElements)
	}
	for _, el := range elements {
		name, val, ok := strings.Cut(strings.Trim(el, " \t"), "=")
		if !ok || name == "" {
			return Signature{}, fmt.Errorf("%w: element %q is not name=value", ErrMalformedSignature, el)
		}
		switch name {
		case "t":
			if haveT {
				return Signature{}, fmt.Errorf("%w: more than one t", ErrMalformedSignature)
			}
			t, err := parseTimestamp(val)
			if err != nil {
				return Signature{}, err
			}
			s.Timestamp, haveT = t, true
		case "v1":
			if len(s.V1) == maxSignatures {
				return Signature{}, fmt.Errorf("%w: more than %d v1 values", ErrMalformedSignature, maxSignatures)
			}
			if len(val) != 2*sha256.Size {
				return Signature{}, fmt.Errorf("%w: v1 is not %d hex digits", ErrMalformedSignature, 2*sha256.Size)
			}
			mac, err := hex.DecodeString(val)
			if err != nil {
				return Signature{}, fmt.Errorf("%w: v1 is not hex", ErrMalformedSignature)
			}
			s.V1 = append(s.V1, mac)
		}
	}
	if !haveT {
		return Signature{}, fmt.Errorf("%w: no t", ErrMalformedSignature)
	}
	if len(s.V1) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1", ErrMalformedSignature)
	}
	return s, nil
}

func parseTimestamp(val string) (int64, error) {
	if val == "" || len(val) > 18 {
		return 0, fmt.Errorf("%w: t is not a Unix time", ErrMalformedSignature)
	}
	for i := 0; i < len(val); i++ {
		if val[i] < '0' || val[i] > '9' {
			return 0, fmt.Errorf("%w: t is not a Unix time", ErrMalformedSignature)
		}
	}
	t, err := strconv.ParseInt(val, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: t: %w", ErrMalformedSignature, err)
	}
	return t, nil
}

// mac computes the v1 value of one secret.
func mac(secret []byte, t int64, id string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(strconv.AppendInt(nil, t, 10))
	h.Write([]byte{'.'})
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the headers of a delivery of body as event id, signed with secret at time t.
// id should come from NewID (it must pass CheckID, or receivers reject the delivery). Sign a
// fresh t on every attempt: a retry sent after the receiver's tolerance with an old t is
// rejected as stale.
func Sign(secret []byte, id string, body []byte, t time.Time) http.Header {
	return SignAll([][]byte{secret}, id, body, t)
}

// SignAll is Sign with one v1 value per secret, for the time a secret is being rotated: a
// receiver that knows any one of them accepts the delivery. Empty secrets are skipped.
func SignAll(secrets [][]byte, id string, body []byte, t time.Time) http.Header {
	s := Signature{Timestamp: t.Unix()}
	for _, secret := range secrets {
		if len(secret) > 0 && len(s.V1) < maxSignatures {
			s.V1 = append(s.V1, mac(secret, s.Timestamp, id, body))
		}
	}
	h := make(http.Header, 2)
	h.Set(HeaderEventID, id)
	h.Set(HeaderSignature, s.String())
	return h
}

// Verify checks a delivery's headers and body against the receiver's secrets and returns the
// event id. It accepts the delivery when one of its v1 values is the HMAC of
// "<t>.<id>.<body>" under one of secrets (compared in constant time), and t lies within
// tolerance of now on either side (DefaultTolerance when tolerance <= 0). Empty secrets are
// ignored, so an unset secret never accepts anything.
//
// The signature is checked before the timestamp, so ErrStaleTimestamp means "genuine but old"
// and ErrSignatureMismatch means "not from a holder of the secret".
//
// Contract for receivers: the timestamp stops replays older than the tolerance; a replay
// inside the tolerance carries the same event id (the id is signed, so it cannot be changed),
// so the receiver must apply each event id at most once, remembering ids for at least the
// tolerance and preferably for as long as the sender may retry. Deliveries are at least once:
// the same id may arrive again after a timeout or a restart of the sender, and must then be
// answered 2xx without being applied again.
func Verify(header http.Header, body []byte, secrets [][]byte, now time.Time, tolerance time.Duration) (string, error) {
	usable := false
	for _, s := range secrets {
		if len(s) > 0 {
			usable = true
			break
		}
	}
	if !usable {
		return "", ErrNoSecrets
	}
	sigValues := header.Values(HeaderSignature)
	if len(sigValues) == 0 {
		return "", ErrNoSignature
	}
	if len(sigValues) > 1 {
		return "", fmt.Errorf("%w: header repeated", ErrMalformedSignature)
	}
	ids := header.Values(HeaderEventID)
	if len(ids) == 0 || ids[0] == "" {
		return "", ErrNoEventID
	}
	if len(ids) > 1 {
		return "", fmt.Errorf("%w: header repeated", ErrBadEventID)
	}
	id := ids[0]
	if err := CheckID(id); err != nil {
		return "", err
	}
	sig, err := ParseSignature(sigValues[0])
	if err != nil {
		return "", err
	}
	if !matches(sig, id, body, secrets) {
		return "", ErrSignatureMismatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	signed := time.Unix(sig.Timestamp, 0)
	// Two subtractions rather than one negated: Sub saturates, and negating the smallest
	// Duration overflows.
	if age := now.Sub(signed); age > tolerance {
		return "", fmt.Errorf("%w: signed %s, %s before %s (tolerance %s)",
			ErrStaleTimestamp, signed.UTC().Format(time.RFC3339), age.Round(time.Second), now.UTC().Format(time.RFC3339), tolerance)
	}
	if ahead := signed.Sub(now); ahead > tolerance {
		return "", fmt.Errorf("%w: signed %s, %s after %s (tolerance %s)",
			ErrFutureTimestamp, signed.UTC().Format(time.RFC3339), ahead.Round(time.Second), now.UTC().Format(time.RFC3339), tolerance)
	}
	return id, nil
}

// matches reports whether any v1 value is the MAC of the delivery under any secret. It checks
// every pair, so its time does not depend on where a match is.
func matches(sig Signature, id string, body []byte, secrets [][]byte) bool {
	ok := false
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		want := mac(secret, sig.Timestamp, id, body)
		for _, got := range sig.V1 {
			if hmac.Equal(want, got) {
				ok = true
			}
		}
	}
	return ok
}
