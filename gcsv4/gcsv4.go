// Package gcsv4 signs Google Cloud Storage V4 signed URLs and POST policies (form uploads),
// GOOG4-RSA-SHA256, with a service account's private key, locally: no network call, and the
// time is the caller's.
//
// Google's Go client (cloud.google.com/go/storage) signs with the clock it reads itself, so
// its URLs can be checked against nothing fixed and cannot share a ticket's timestamp; this
// package takes the time as an argument and reproduces Google's conformance vectors byte for
// byte (testdata/v4_signatures.json, both its signed-URL and its POST policy cases). The
// control plane's GCS provider signs every URL and form here.
package gcsv4

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxExpires is the longest a V4 signed URL may live: seven days.
const MaxExpires = 7 * 24 * time.Hour

// Algorithm is the X-Goog-Algorithm of a V4 URL signed with a service-account key.
const Algorithm = "GOOG4-RSA-SHA256"

// Signer signs with one service account's key. It is safe for concurrent use.
type Signer struct {
	// Email is the service account's client_email (the credential's id).
	Email string
	// Key is the service account's private key.
	Key *rsa.PrivateKey
}

// ParseServiceAccount reads a service-account key file (the JSON that
// GOOGLE_APPLICATION_CREDENTIALS names): its client_email and private_key.
func ParseServiceAccount(data []byte) (*Signer, error) {
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("gcsv4: service account key: %w", err)
	}
	if f.ClientEmail == "" || f.PrivateKey == "" {
		return nil, errors.New("gcsv4: the credentials are not a service account key (no client_email and private_key): only a service account's key signs URLs locally")
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return nil, errors.New("gcsv4: service account private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
			k = k1
		} else {
			return nil, fmt.Errorf("gcsv4: service account private_key: %w", err)
		}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("gcsv4: service account private_key is not an RSA key")
	}
	return &Signer{Email: f.ClientEmail, Key: rk}, nil
}

// Request is what a signed URL covers.
type Request struct {
	Method string
	// Endpoint is scheme://host[:port] of the storage API (https://storage.googleapis.com).
	Endpoint string
	// Bucket and Object name the resource; Object "" is the bucket itself.
	Bucket, Object string
	// Style places the bucket: in the path (PathStyle, the default), in the host name
	// (VirtualHostedStyle), or nowhere, the endpoint's host being bound to it
	// (BucketBoundHostname).
	Style Style
	// Headers the client must send with exactly these values (Host is added).
	Headers map[string]string
	// Query parameters signed into the URL besides the X-Goog-* ones.
	Query url.Values
}

// Style is where a URL names its bucket.
type Style int

// The URL styles.
const (
	PathStyle Style = iota
	VirtualHostedStyle
	BucketBoundHostname
)

// Signed is a signed URL with what its signature was made of.
type Signed struct {
	URL              string
	CanonicalRequest string
	StringToSign     string
}

// Sign signs r at now for ttl (1 s to MaxExpires).
func (s *Signer) Sign(r Request, now time.Time, ttl time.Duration) (Signed, error) {
	if ttl < time.Second || ttl > MaxExpires {
		return Signed{}, fmt.Errorf("gcsv4: expiry %v is outside 1s..%v", ttl, MaxExpires)
	}
	ep, err := url.Parse(r.Endpoint)
	if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") {
		return Signed{}, fmt.Errorf("gcsv4: endpoint %q must be http(s)://host[:port]", r.Endpoint)
	}
	host, path := ep.Host, ""
	switch r.Style {
	case PathStyle:
		path = "/" + r.Bucket
		if r.Object != "" {
			path += "/" + r.Object
		}
	case VirtualHostedStyle:
		host = r.Bucket + "." + host
		path = "/" + r.Object
	case BucketBoundHostname:
		path = "/" + r.Object
	default:
		return Signed{}, fmt.Errorf("gcsv4: unknown style %d", r.Style)
	}
	now = now.UTC()
	date := now.Format("20060102T150405Z")
	scope := date[:8] + "/auto/storage/goog4_request"

	headers := map[string]string{"host": signedHost(ep.Scheme, host)}
	for k, v := range r.Headers {
		headers[strings.ToLower(strings.TrimSpace(k))] = canonicalValue(v)
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	var canonHeaders strings.Builder
	for _, k := range names {
		canonHeaders.WriteString(k + ":" + headers[k] + "\n")
	}
	signedHeaders := strings.Join(names, ";")

	q := url.Values{}
	for k, vs := range r.Query {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("X-Goog-Algorithm", Algorithm)
	q.Set("X-Goog-Credential", s.Email+"/"+scope)
	q.Set("X-Goog-Date", date)
	q.Set("X-Goog-Expires", strconv.FormatInt(int64(ttl/time.Second), 10))
	q.Set("X-Goog-SignedHeaders", signedHeaders)
	query := canonicalQuery(q)

	payload := "UNSIGNED-PAYLOAD"
	if v, ok := headers["x-goog-content-sha256"]; ok {
		payload = v
	}
	canon := strings.Join([]string{r.Method, escapePath(path), query, canonHeaders.String(), signedHeaders, payload}, "\n")
	sum := sha256.Sum256([]byte(canon))
	sts := strings.Join([]string{Algorithm, date, scope, hex.EncodeToString(sum[:])}, "\n")
	digest := sha256.Sum256([]byte(sts))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, digest[:])
	if err != nil {
		return Signed{}, fmt.Errorf("gcsv4: sign: %w", err)
	}
	u := ep.Scheme + "://" + host + escapePath(path) + "?" + query + "&X-Goog-Signature=" + hex.EncodeToString(sig)
	return Signed{URL: u, CanonicalRequest: canon, StringToSign: sts}, nil
}

// signedHost is the Host header as the signature covers it: without the scheme's default port,
// and without a port on plain HTTP, as Google's client libraries sign it.
func signedHost(scheme, host string) string {
	if scheme == "https" {
		return strings.TrimSuffix(host, ":443")
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		return host[:i]
	}
	return host
}

// canonicalValue trims a header value and folds each run of spaces and tabs into one space.
func canonicalValue(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// canonicalQuery encodes q sorted by encoded name, RFC 3986 style.
func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{escape(k, false), escape(v, false)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k + "=" + p.v)
	}
	return b.String()
}

// escapePath percent-encodes every byte of an object path but the unreserved ones and '/'.
func escapePath(p string) string { return escape(p, true) }

func escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
