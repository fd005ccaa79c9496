package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// CredentialStore finds the secret key of an access key. Implementations must be safe for
// concurrent use.
type CredentialStore interface {
	SecretKey(accessKeyID string) (secret string, ok bool)
}

// StaticCredentials is a fixed set of access keys, mapping each access key id to its secret.
type StaticCredentials map[string]string

// SecretKey implements CredentialStore.
func (s StaticCredentials) SecretKey(id string) (string, bool) {
	v, ok := s[id]
	return v, ok
}

// Verifier checks SigV4 signatures for one region and service. It is safe for concurrent use.
type Verifier struct {
	// Region the server signs for, e.g. "us-east-1".
	Region string
	// Service of the scope; "s3" when empty.
	Service string
	// Credentials resolves access keys.
	Credentials CredentialStore
	// Keys caches signing keys; nil derives them on every request.
	Keys *KeyCache
	// MaxSkew bounds how far ahead of the server a request's date may be (and, for header
	// auth, how far behind); DefaultMaxSkew when zero. It never extends a URL's expiry.
	MaxSkew time.Duration
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return "s3"
	}
	return v.Service
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// Verify parses and checks the signature of r at time now. On success it returns the parsed
// Auth, which the payload readers need; the payload itself is checked as it is read (see
// NewPayloadReader). Failures are *Error values: parameters and scope (KindQueryParams,
// KindHeaderMalformed), an unknown key (KindInvalidAccessKeyID), time (KindNotYetValid,
// KindExpired, KindTimeTooSkewed), unsigned x-amz-* headers (KindHeadersNotSigned) and the
// signature itself (KindSignatureMismatch), checked in that order.
func (v *Verifier) Verify(r *http.Request, now time.Time) (*Auth, error) {
	a, err := Parse(r)
	if err != nil {
		return nil, err
	}
	return a, v.check(r, a, now)
}

func (v *Verifier) check(r *http.Request, a *Auth, now time.Time) error {
	malformed := KindQueryParams
	if a.Mode == HeaderAuth {
		malformed = KindHeaderMalformed
	}
	if err := v.checkScope(a, malformed); err != nil {
		return err
	}
	secret, ok := v.Credentials.SecretKey(a.AccessKeyID)
	if !ok {
		return &Error{Kind: KindInvalidAccessKeyID, AccessKeyID: a.AccessKeyID}
	}
	if err := v.checkTime(a, now); err != nil {
		return err
	}
	if missing := unsignedAmzHeaders(r.Header, a); len(missing) > 0 {
		return &Error{Kind: KindHeadersNotSigned, HeadersNotSigned: missing}
	}
	if a.Mode == HeaderAuth {
		if err := checkPayloadHashSyntax(a.PayloadHash); err != nil {
			return err
		}
	}
	a.key = v.Keys.Key(secret, a.Scope)
	return a.checkSignature(r)
}

func (v *Verifier) checkScope(a *Auth, malformed Kind) error {
	if a.Scope.Date != a.AmzDate[:8] {
		return errorf(malformed, "Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", a.Scope.Date, a.AmzDate[:8])
	}
	if a.Scope.Region != v.Region {
		return &Error{Kind: malformed, Region: v.Region,
			Message: "Error parsing the X-Amz-Credential parameter; the region '" + a.Scope.Region + "' is wrong; expecting '" + v.Region + "'"}
	}
	if a.Scope.Service != v.service() {
		return errorf(malformed, "Error parsing the X-Amz-Credential parameter; incorrect service %q. This endpoint belongs to %q.", a.Scope.Service, v.service())
	}
	return nil
}

// checkTime applies the clock rules: a date ahead of the server by more than the skew is not
// yet valid (presigned) or skewed (header); a presigned URL expires exactly X-Amz-Expires
// seconds after its date, with no grace; a header-signed request older than the skew is skewed.
func (v *Verifier) checkTime(a *Auth, now time.Time) error {
	skew := v.maxSkew()
	if a.Mode == QueryAuth {
		exp := a.Expiry()
		if a.Date.Sub(now) > skew {
			return &Error{Kind: KindNotYetValid, RequestTime: a.Date, XAmzExpires: a.Expires, Expires: exp, ServerTime: now}
		}
		if now.After(exp) {
			return &Error{Kind: KindExpired, RequestTime: a.Date, XAmzExpires: a.Expires, Expires: exp, ServerTime: now}
		}
		return nil
	}
	if d := a.Date.Sub(now); d > skew || d < -skew {
		return &Error{Kind: KindTimeTooSkewed, RequestTime: a.Date, ServerTime: now, MaxSkew: skew}
	}
	return nil
}

// unsignedAmzHeaders lists x-amz-* request headers that the signature does not cover. For
// query auth, X-Amz-Content-Sha256 is exempt: several SDKs add it to requests made with a
// presigned URL, and the payload hash is not part of a presigned signature anyway.
func unsignedAmzHeaders(h http.Header, a *Auth) []string {
	var missing []string
	for name := range h {
		if len(name) < 6 || !strings.EqualFold(name[:6], "x-amz-") {
			continue
		}
		lower := strings.ToLower(name)
		if a.Mode == QueryAuth && lower == "x-amz-content-sha256" {
			continue
		}
		if !slices.Contains(a.SignedHeaders, lower) {
			missing = append(missing, lower)
		}
	}
	slices.Sort(missing)
	return missing
}

// checkPayloadHashSyntax accepts the streaming and unsigned modes and a hex SHA-256.
func checkPayloadHashSyntax(h string) error {
	switch h {
	case "":
		return &Error{Kind: KindMissingContentSHA256}
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		return nil
	}
	if len(h) != 64 {
		return &Error{Kind: KindInvalidContentSHA256}
	}
	for i := 0; i < len(h); i++ {
		if _, ok := unhex(h[i]); !ok {
			return &Error{Kind: KindInvalidContentSHA256}
		}
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// checkSignature rebuilds the canonical request and compares signatures in constant time.
func (a *Auth) checkSignature(r *http.Request) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	c := canonicalRequest{
		method: r.Method, url: r.URL, params: a.params, skipSig: a.Mode == QueryAuth,
		headers: sourceOf(r), signed: a.SignedHeaders, payloadHash: a.PayloadHash,
	}
	canon, err := c.appendTo((*bp)[:0])
	if err != nil {
		return errorf(KindSignatureMismatch, "The request path is not valid percent-encoding.")
	}
	ch := sha256.Sum256(canon)
	sts := appendStringToSign(canon[len(canon):], a.AmzDate, a.Scope, &ch)
	sig := signString(&a.key, sts)
	*bp = canon[:0]
	if subtle.ConstantTimeCompare(sig[:], a.Signature[:]) != 1 {
		return &Error{Kind: KindSignatureMismatch, AccessKeyID: a.AccessKeyID,
			CanonicalRequest: string(canon), StringToSign: string(sts), Signature: hex.EncodeToString(a.Signature[:])}
	}
	return nil
}

// signString is HMAC-SHA256(key, s), computed without allocating: the two SHA-256 passes run
// over pooled and stack buffers instead of through crypto/hmac, which allocates its state on
// every call. This is on the path of every request and every aws-chunked chunk.
func signString(key *SigningKey, s []byte) [32]byte {
	bp := macPool.Get().(*[]byte)
	buf := append((*bp)[:0], make([]byte, sha256.BlockSize)...)
	for i := range buf[:sha256.BlockSize] {
		buf[i] = 0x36
		if i < len(key) {
			buf[i] ^= key[i]
		}
	}
	buf = append(buf, s...)
	inner := sha256.Sum256(buf)
	*bp = buf[:0]
	macPool.Put(bp)
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range outer[:sha256.BlockSize] {
		outer[i] = 0x5c
		if i < len(key) {
			outer[i] ^= key[i]
		}
	}
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:])
}

var macPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
