package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Credentials are an access key pair, with the session token of temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // optional; signed as X-Amz-Security-Token
}

// Signer signs requests, presigned URLs and POST policies with one set of credentials for one
// region and service. It is safe for concurrent use.
type Signer struct {
	Credentials Credentials
	Region      string
	// Service of the scope; "s3" when empty.
	Service string
	// Keys caches signing keys; nil derives them each time.
	Keys *KeyCache
}

// Scope returns the credential scope for a signing time.
func (s *Signer) Scope(t time.Time) Scope {
	svc := s.Service
	if svc == "" {
		svc = "s3"
	}
	return Scope{Date: t.UTC().Format(DateFormat), Region: s.Region, Service: svc}
}

// SigningKey returns the signing key for a signing time.
func (s *Signer) SigningKey(t time.Time) SigningKey {
	return s.Keys.Key(s.Credentials.SecretAccessKey, s.Scope(t))
}

// headersNotSignedByDefault are left out of a header signature: they are added or changed by
// proxies and HTTP libraries on the way.
var headersNotSignedByDefault = map[string]bool{
	"authorization": true, "user-agent": true, "expect": true,
	"transfer-encoding": true, "x-amzn-trace-id": true, "connection": true,
}

// Presign returns a presigned URL for method on u, valid from t for expires (1 s to 7 days).
// Every query parameter of u is signed with it, so parameters a server enforces beyond S3's
// own cannot be altered. header lists further headers the client will send and that must be
// signed (for example Content-Type); the host is always signed, from u.Host.
func (s *Signer) Presign(method string, u *url.URL, header http.Header, t time.Time, expires time.Duration) (*url.URL, error) {
	if expires < time.Second || expires > MaxExpires {
		return nil, fmt.Errorf("sigv4: presign: expiry %v is outside 1s..%v", expires, MaxExpires)
	}
	if expires%time.Second != 0 {
		return nil, fmt.Errorf("sigv4: presign: expiry %v is not a whole number of seconds", expires)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("sigv4: presign: URL %q has no host", u.Redacted())
	}
	params, err := parseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("sigv4: presign: query of %q: %w", u.Redacted(), err)
	}
	for _, p := range params {
		if strings.HasPrefix(strings.ToLower(p.key), "x-amz-") && isAuthParam(p.key) {
			return nil, fmt.Errorf("sigv4: presign: URL already carries %s", p.key)
		}
	}
	t = t.UTC()
	scope := s.Scope(t)
	amzDate := t.Format(TimeFormat)
	names := []string{"host"}
	for k := range header {
		names = append(names, k)
	}
	signed := normaliseSigned(names)
	add := func(k, v string) {
		params = append(params, queryParam{key: k, value: v, encKey: escapeString(k)})
	}
	add(paramAlgorithm, Algorithm)
	add(paramCredential, s.Credentials.AccessKeyID+"/"+scope.String())
	add(paramDate, amzDate)
	add(paramExpires, strconv.FormatInt(int64(expires/time.Second), 10))
	add(paramSignedHeaders, strings.Join(signed, ";"))
	if s.Credentials.SessionToken != "" {
		add(paramToken, s.Credentials.SessionToken)
	}
	src := headerSource{header: header, host: u.Host}
	c := canonicalRequest{method: method, url: u, params: params, headers: src, signed: signed, payloadHash: UnsignedPayload}
	sig, _, err := s.sign(&c, amzDate, scope)
	if err != nil {
		return nil, err
	}
	out := *u
	q := appendCanonicalQuery(nil, params, false)
	q = append(q, "&"+paramSignature+"="...)
	out.RawQuery = string(hex.AppendEncode(q, sig[:]))
	return &out, nil
}

func isAuthParam(k string) bool {
	switch k {
	case paramAlgorithm, paramCredential, paramDate, paramExpires, paramSignedHeaders, paramSignature, paramToken:
		return true
	}
	return false
}

// SignRequest signs r with the Authorization header at time t. payloadHash is the hex SHA-256
// of the body, or one of UnsignedPayload and the streaming modes; it is sent as
// x-amz-content-sha256. Every header present is signed except those that proxies change
// (User-Agent, Expect, Transfer-Encoding, ...). It returns the signature, which is the seed of
// an aws-chunked body.
func (s *Signer) SignRequest(r *http.Request, payloadHash string, t time.Time) (string, error) {
	t = t.UTC()
	scope := s.Scope(t)
	amzDate := t.Format(TimeFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if s.Credentials.SessionToken != "" {
		r.Header.Set("X-Amz-Security-Token", s.Credentials.SessionToken)
	}
	r.Header.Del("Authorization")
	names := []string{"host"}
	for k := range r.Header {
		if !headersNotSignedByDefault[strings.ToLower(k)] {
			names = append(names, k)
		}
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		names = append(names, "content-length")
	}
	signed := normaliseSigned(names)
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return "", fmt.Errorf("sigv4: sign: %w", err)
	}
	c := canonicalRequest{method: r.Method, url: r.URL, params: params, headers: sourceOf(r), signed: signed, payloadHash: payloadHash}
	sig, _, err := s.sign(&c, amzDate, scope)
	if err != nil {
		return "", err
	}
	hexSig := hex.EncodeToString(sig[:])
	r.Header.Set("Authorization", Algorithm+" Credential="+s.Credentials.AccessKeyID+"/"+scope.String()+
		", SignedHeaders="+strings.Join(signed, ";")+", Signature="+hexSig)
	return hexSig, nil
}

// sign computes the signature of a canonical request; it also returns the string to sign.
func (s *Signer) sign(c *canonicalRequest, amzDate string, scope Scope) ([32]byte, string, error) {
	canon, err := c.appendTo(nil)
	if err != nil {
		return [32]byte{}, "", fmt.Errorf("sigv4: sign: path: %w", err)
	}
	h := sha256.Sum256(canon)
	sts := appendStringToSign(nil, amzDate, scope, &h)
	key := s.Keys.Key(s.Credentials.SecretAccessKey, scope)
	return signString(&key, sts), string(sts), nil
}
