package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The canonical request, exactly as S3 computes it:
//
//	Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
//
// S3 differs from most AWS services in that the path is used as sent, without removing "." or
// ".." segments or repeated slashes, and is URI-encoded only once.

const upperhex = "0123456789ABCDEF"

// unreserved reports the RFC 3986 unreserved characters, which SigV4 never encodes.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendEscaped appends s URI-encoded as SigV4 wants: every byte but the unreserved ones (and
// '/', when keepSlash) as %XX with upper-case hex. A space is %20, never '+'.
func appendEscaped(dst []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var errBadEscape = errors.New("invalid percent-encoding")

// appendCanonicalURI appends the canonical form of an escaped request path. Escapes are
// normalised (an escaped unreserved character is decoded, hex is upper-cased) and characters
// that must be encoded are, so the result is the path "encoded once" whatever escaping the
// client chose; an escaped '/' stays escaped, as it is not a separator.
func appendCanonicalURI(dst []byte, escapedPath string) ([]byte, error) {
	if escapedPath == "" {
		return append(dst, '/'), nil
	}
	for i := 0; i < len(escapedPath); i++ {
		c := escapedPath[i]
		if c == '%' {
			if i+2 >= len(escapedPath) {
				return dst, errBadEscape
			}
			hi, ok1 := unhex(escapedPath[i+1])
			lo, ok2 := unhex(escapedPath[i+2])
			if !ok1 || !ok2 {
				return dst, errBadEscape
			}
			c = hi<<4 | lo
			i += 2
			if unreserved(c) {
				dst = append(dst, c)
			} else {
				dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
			}
			continue
		}
		if unreserved(c) || c == '/' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return dst, nil
}

// appendCanonicalPath appends the canonical URI of u. When the path has no special escaping
// (RawPath is empty, as for most requests) it encodes Path directly, which equals
// canonicalising its escaped form without building that string first.
func appendCanonicalPath(dst []byte, u *url.URL) ([]byte, error) {
	if u.RawPath == "" {
		if u.Path == "" {
			return append(dst, '/'), nil
		}
		return appendEscaped(dst, u.Path, true), nil
	}
	return appendCanonicalURI(dst, u.EscapedPath())
}

// queryParam is one query parameter, decoded, with its name in canonical encoding (names
// decide the order; values are encoded as they are written out).
type queryParam struct {
	key, value string // decoded
	encKey     string // canonical encoding of key
}

// parseQuery splits a raw query string into parameters. '+' decodes to a space, as in HTML
// forms and Go's url.ParseQuery; an empty pair ("a&&b") is skipped.
func parseQuery(raw string) ([]queryParam, error) {
	if raw == "" {
		return nil, nil
	}
	params := make([]queryParam, 0, 8)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err := queryUnescape(k)
		if err != nil {
			return nil, err
		}
		dv, err := queryUnescape(v)
		if err != nil {
			return nil, err
		}
		params = append(params, queryParam{key: dk, value: dv, encKey: escapeString(dk)})
	}
	return params, nil
}

// queryUnescape decodes %XX and '+'; it returns s itself when there is nothing to decode.
func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", errBadEscape
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", errBadEscape
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

// escapeString returns s in canonical encoding; s itself when nothing needs encoding.
func escapeString(s string) string {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return string(appendEscaped(make([]byte, 0, len(s)+16), s, false))
		}
	}
	return s
}

// appendCanonicalQuery appends the parameters sorted by encoded name, then encoded value,
// joined as name=value with '&', leaving out X-Amz-Signature when skipSignature is set. It
// sorts params in place.
func appendCanonicalQuery(dst []byte, params []queryParam, skipSignature bool) []byte {
	if !slices.IsSortedFunc(params, compareParams) {
		slices.SortFunc(params, compareParams)
	}
	first := true
	for _, p := range params {
		if skipSignature && p.key == paramSignature {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, p.encKey...)
		dst = append(dst, '=')
		dst = appendEscaped(dst, p.value, false)
	}
	return dst
}

// compareParams orders by encoded name, then by encoded value; values are encoded only for
// the rare repeated name.
func compareParams(a, b queryParam) int {
	if c := strings.Compare(a.encKey, b.encKey); c != 0 {
		return c
	}
	return strings.Compare(escapeString(a.value), escapeString(b.value))
}

// headerSource gives the values of the request's headers as the client sent them. Go's HTTP
// server moves Host and Transfer-Encoding out of the header map and may keep Content-Length
// only in the request struct, so those are taken from there.
type headerSource struct {
	header           http.Header
	host             string
	contentLength    int64
	transferEncoding []string
}

func sourceOf(r *http.Request) headerSource {
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	return headerSource{header: r.Header, host: host, contentLength: r.ContentLength, transferEncoding: r.TransferEncoding}
}

// values returns the values of a lower-case header name.
func (s headerSource) values(name string) []string {
	switch name {
	case "host":
		if s.host == "" {
			return nil
		}
		return []string{s.host}
	case "content-length":
		if v := s.header.Values("Content-Length"); len(v) > 0 {
			return v
		}
		if s.contentLength > 0 {
			return []string{strconv.FormatInt(s.contentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if len(s.transferEncoding) > 0 {
			return []string{strings.Join(s.transferEncoding, ",")}
		}
	}
	if v, ok := s.header[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v
	}
	// A header map built by hand may hold non-canonical keys.
	for k, v := range s.header {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// appendCanonicalHeaders appends "name:value\n" for every signed header (lower-case, sorted),
// with the values of a repeated header joined by ',' and each value trimmed, its inner runs of
// spaces folded into one.
func appendCanonicalHeaders(dst []byte, src headerSource, signed []string) []byte {
	for _, name := range signed {
		dst = append(dst, name...)
		dst = append(dst, ':')
		for i, v := range src.values(name) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendFolded(dst, v)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// appendFolded appends v without leading and trailing whitespace and with each inner run of
// whitespace (spaces, tabs, folded line breaks) replaced by one space.
func appendFolded(dst []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// canonicalRequest holds the pieces of one canonical request.
type canonicalRequest struct {
	method      string
	url         *url.URL
	params      []queryParam
	skipSig     bool // leave X-Amz-Signature out (query auth)
	headers     headerSource
	signed      []string // lower-case, sorted
	payloadHash string
}

// appendTo appends the canonical request text.
func (c *canonicalRequest) appendTo(dst []byte) ([]byte, error) {
	dst = append(dst, c.method...)
	dst = append(dst, '\n')
	dst, err := appendCanonicalPath(dst, c.url)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '\n')
	dst = appendCanonicalQuery(dst, c.params, c.skipSig)
	dst = append(dst, '\n')
	dst = appendCanonicalHeaders(dst, c.headers, c.signed)
	dst = append(dst, '\n')
	for i, h := range c.signed {
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, h...)
	}
	dst = append(dst, '\n')
	dst = append(dst, c.payloadHash...)
	return dst, nil
}

// appendStringToSign appends the string to sign for a canonical request's SHA-256:
// algorithm \n amzDate \n scope \n hex(sha256(canonical request)).
func appendStringToSign(dst []byte, amzDate string, s Scope, canonicalHash *[sha256.Size]byte) []byte {
	dst = append(dst, Algorithm...)
	dst = append(dst, '\n')
	dst = append(dst, amzDate...)
	dst = append(dst, '\n')
	dst = append(dst, s.Date...)
	dst = append(dst, '/')
	dst = append(dst, s.Region...)
	dst = append(dst, '/')
	dst = append(dst, s.Service...)
	dst = append(dst, '/')
	dst = append(dst, terminator...)
	dst = append(dst, '\n')
	return hex.AppendEncode(dst, canonicalHash[:])
}

// CanonicalRequest returns the canonical request S3 computes for r, signing the given headers
// (lower-case names, any order) with the given payload hash. Query auth leaves X-Amz-Signature
// out of the canonical query. It is exported for diagnostics and tests; Verify and the signing
// functions build it themselves.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) (string, error) {
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	signed := normaliseSigned(signedHeaders)
	c := canonicalRequest{
		method: r.Method, url: r.URL, params: params, skipSig: true,
		headers: sourceOf(r), signed: signed, payloadHash: payloadHash,
	}
	b, err := c.appendTo(nil)
	return string(b), err
}

// StringToSign returns the string to sign for a canonical request at amzDate in scope.
func StringToSign(canonical, amzDate string, s Scope) string {
	h := sha256.Sum256([]byte(canonical))
	return string(appendStringToSign(nil, amzDate, s, &h))
}

// normaliseSigned returns the names lower-cased, sorted and without duplicates.
func normaliseSigned(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(strings.TrimSpace(n)))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
