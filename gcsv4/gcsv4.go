// Package gcsv4 signs Google Cloud Storage V4 signed URLs and POST policies (form uploads)
// locally, with a service account's RSA key (GOOG4-RSA-SHA256, Signer) or, for URLs, an HMAC
// key (GOOG4-HMAC-SHA256, HMACSigner): no network call, and the time is the caller's.
//
// Google's Go client (cloud.google.com/go/storage) signs with the clock it reads itself, and
// not with HMAC keys at all, so its URLs can be checked against nothing fixed and cannot share a
// ticket's timestamp; this package takes the time as an argument and reproduces Google's
// conformance vectors byte for byte (testdata/v4_signatures.json, both its signed-URL and its
// POST policy cases). Both kinds of key share the canonical request and the string to sign
// (prepare); only the last step differs: an RSA signature over the string to sign, or an HMAC
// under a key derived from the secret. The control plane's GCS provider signs every URL and
// form here.
package gcsv4

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxExpires is the longest a V4 signed URL may live: seven days.
const MaxExpires = 7 * 24 * time.Hour

// The credential scope after its date, <date>/auto/storage/goog4_request, which an HMAC key's
// signing key is also derived from: "auto" is the location Google's clients sign for, valid in
// every region.
const (
	location   = "auto"
	service    = "storage"
	terminator = "goog4_request"
)

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

// draft is a request's URL, canonical request and string to sign: everything but the signature,
// which is the same for both kinds of key.
type draft struct {
	url, canonical, stringToSign string
	// day is the scope's date (YYYYMMDD), which an HMAC key's signing key is derived for.
	day string
}

// prepare builds r's canonical request and string to sign at now for ttl (1 s to MaxExpires),
// naming algorithm and credential (the key's id) in the URL.
func prepare(r Request, now time.Time, ttl time.Duration, algorithm, credential string) (draft, error) {
	if ttl < time.Second || ttl > MaxExpires {
		return draft{}, fmt.Errorf("gcsv4: expiry %v is outside 1s..%v", ttl, MaxExpires)
	}
	ep, err := url.Parse(r.Endpoint)
	if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") {
		return draft{}, fmt.Errorf("gcsv4: endpoint %q must be http(s)://host[:port]", r.Endpoint)
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
		return draft{}, fmt.Errorf("gcsv4: unknown style %d", r.Style)
	}
	now = now.UTC()
	date := now.Format("20060102T150405Z")
	scope := date[:8] + "/" + location + "/" + service + "/" + terminator

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
	q.Set("X-Goog-Algorithm", algorithm)
	q.Set("X-Goog-Credential", credential+"/"+scope)
	q.Set("X-Goog-Date", date)
	q.Set("X-Goog-Expires", strconv.FormatInt(int64(ttl/time.Second), 10))
	q.Set("X-Goog-SignedHeaders", signedHeaders)
	query := canonicalQuery(q)

	payload := "UNSIGNED-PAYLOAD"
	if v, ok := headers["x-goog-content-sha256"]; ok {
		payload = v
	}
	escaped := escapePath(path)
	canon := strings.Join([]string{r.Method, escaped, query, canonHeaders.String(), signedHeaders, payload}, "\n")
	sum := sha256.Sum256([]byte(canon))
	sts := strings.Join([]string{algorithm, date, scope, hex.EncodeToString(sum[:])}, "\n")
	return draft{url: ep.Scheme + "://" + host + escaped + "?" + query, canonical: canon, stringToSign: sts, day: date[:8]}, nil
}

// signed is the draft's URL with its signature.
func (d draft) signed(sig []byte) Signed {
	return Signed{URL: d.url + "&X-Goog-Signature=" + hex.EncodeToString(sig), CanonicalRequest: d.canonical, StringToSign: d.stringToSign}
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
	pairs := make([]kv, 0, len(q))
	n := 0
	for k, vs := range q {
		for _, v := range vs {
			p := kv{escape(k, false), escape(v, false)}
			pairs = append(pairs, p)
			n += len(p.k) + len(p.v) + 2
		}
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	b.Grow(n)
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// escapePath percent-encodes every byte of an object path but the unreserved ones and '/'.
func escapePath(p string) string { return escape(p, true) }

func escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !kept(s[i], keepSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if kept(c, keepSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// kept reports whether c stands for itself in an escaped string: an unreserved byte, or '/' in
// a path.
func kept(c byte, keepSlash bool) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/')
}
