package sigv2

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"presign/sigv4"
)

// CredentialStore finds the secret key of an access key: the same store serves both
// signature versions, since a key signs either way.
type CredentialStore = sigv4.CredentialStore

// DefaultMaxSkew is how far a header-signed request's date may be from the server's clock:
// the same bound as Signature Version 4's.
const DefaultMaxSkew = sigv4.DefaultMaxSkew

// Verifier checks Signature Version 2 signatures. It is safe for concurrent use.
type Verifier struct {
	// Credentials resolves access keys.
	Credentials CredentialStore
	// MaxSkew bounds the distance between a header-signed request's date and the server's
	// clock; DefaultMaxSkew when zero. Presigned URLs have an absolute Expires instead.
	MaxSkew time.Duration
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// Verify parses and checks the signature of r at time now. hostBucket is the bucket the Host
// names under virtual-host addressing ("" for path-style), which the canonical resource
// starts with. Failures are *Error values: the form of the signature (KindMissingAuth,
// KindMultipleAuth, KindHeaderMalformed, KindQueryParams, KindMissingDate), an unknown key
// (KindInvalidAccessKeyID), time (KindExpired, KindTimeTooSkewed) and the signature itself
// (KindSignatureMismatch), checked in that order.
func (v *Verifier) Verify(r *http.Request, hostBucket string, now time.Time) (*Auth, error) {
	a, err := Parse(r)
	if err != nil {
		return nil, err
	}
	secret, ok := v.Credentials.SecretKey(a.AccessKeyID)
	if !ok {
		return nil, &Error{Kind: KindInvalidAccessKeyID, AccessKeyID: a.AccessKeyID}
	}
	if a.Mode == QueryAuth {
		if now.After(a.Expires) {
			return nil, &Error{Kind: KindExpired, Expires: a.Expires, ServerTime: now}
		}
	} else if d := a.Date.Sub(now); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, &Error{Kind: KindTimeTooSkewed, RequestTime: a.Date, ServerTime: now, MaxSkew: v.maxSkew()}
	}
	c := canonical{method: r.Method, params: a.params, header: r.Header,
		fromQuery: a.Mode == QueryAuth, date: a.dateLine, hostBucket: hostBucket}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	path, alt := resourcePath(escapedPath(r), hostBucket)
	c.path = path
	sts := c.appendStringToSign((*bp)[:0])
	*bp = sts[:0]
	if match(secret, sts, a.signature) {
		return a, nil
	}
	mismatch := &Error{Kind: KindSignatureMismatch, AccessKeyID: a.AccessKeyID, StringToSign: string(sts), SignatureSent: a.signature}
	if alt != "" {
		c.path = alt
		if match(secret, c.appendStringToSign(sts[:0]), a.signature) {
			return a, nil
		}
	}
	return nil, mismatch
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// PostAuth is a verified POST form.
type PostAuth struct {
	AccessKeyID string
}

// InForm reports whether a POST form (lower-case field names) is signed with Signature
// Version 2: it has an awsaccesskeyid field and none of Signature Version 4.
func InForm(form map[string]string) bool {
	_, v2 := form["awsaccesskeyid"]
	_, v4 := form["x-amz-credential"]
	return v2 && !v4
}

// PostFields are the form fields of a Signature Version 2 POST that no policy condition needs
// to name: the signature's own.
var PostFields = []string{"awsaccesskeyid", "signature"}

// VerifyPost checks the signature of a POST Object form: form maps lower-case field names to
// values (without the file), and must carry awsaccesskeyid, policy and signature, the base64
// HMAC-SHA1 of the base64 policy. The policy itself (expiry, conditions, size) is the
// caller's to check; its rules are those of Signature Version 4 (sigv4.ParsePostPolicy), with
// PostFields exempt from conditions.
func (v *Verifier) VerifyPost(form map[string]string) (*PostAuth, error) {
	for _, f := range []string{"awsaccesskeyid", "policy", "signature"} {
		if form[f] == "" {
			return nil, errorf(KindPostFields, "Invalid according to Policy: the form has no %q field.", f)
		}
	}
	akid := form["awsaccesskeyid"]
	secret, ok := v.Credentials.SecretKey(akid)
	if !ok {
		return nil, &Error{Kind: KindInvalidAccessKeyID, AccessKeyID: akid}
	}
	if !match(secret, []byte(form["policy"]), form["signature"]) {
		return nil, &Error{Kind: KindSignatureMismatch, AccessKeyID: akid, StringToSign: form["policy"], SignatureSent: form["signature"]}
	}
	return &PostAuth{AccessKeyID: akid}, nil
}

// match reports whether sig (base64) is the HMAC-SHA1 of sts with secret, comparing in
// constant time. A signature that is not base64 of 20 bytes matches nothing.
func match(secret string, sts []byte, sig string) bool {
	if base64.StdEncoding.DecodedLen(len(sig)) > sha1.Size+2 {
		return false
	}
	var got [sha1.Size + 2]byte
	n, err := base64.StdEncoding.Decode(got[:], []byte(sig))
	if err != nil || n != sha1.Size {
		return false
	}
	want := sign(secret, sts)
	return subtle.ConstantTimeCompare(got[:n], want[:]) == 1
}

// sign is HMAC-SHA1(secret, sts), computed without allocating: the two SHA-1 passes run over
// a pooled buffer and the stack instead of through crypto/hmac, which allocates its state on
// every call.
func sign(secret string, sts []byte) [sha1.Size]byte {
	var key [sha1.BlockSize]byte
	if len(secret) > sha1.BlockSize {
		sum := sha1.Sum([]byte(secret))
		copy(key[:], sum[:])
	} else {
		copy(key[:], secret)
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, k := range key {
		buf = append(buf, k^0x36)
	}
	buf = append(buf, sts...)
	inner := sha1.Sum(buf)
	*bp = buf[:0]
	bufPool.Put(bp)
	var outer [sha1.BlockSize + sha1.Size]byte
	for i, k := range key {
		outer[i] = k ^ 0x5c
	}
	copy(outer[sha1.BlockSize:], inner[:])
	return sha1.Sum(outer[:])
}
