package sigv2

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mode says where a request carries its signature.
type Mode int

// Signature locations.
const (
	// HeaderAuth: the Authorization header, "AWS <access key>:<signature>".
	HeaderAuth Mode = iota + 1
	// QueryAuth: the AWSAccessKeyId, Expires and Signature parameters of a presigned URL.
	QueryAuth
)

// Auth is the parsed signature of a request. Parse fills it without checking anything that
// needs a secret or a clock; Verifier.Verify checks it.
type Auth struct {
	Mode        Mode
	AccessKeyID string
	// Date is the request's date, from x-amz-date or else Date (header auth).
	Date time.Time
	// Expires is when a presigned URL stops working (query auth).
	Expires time.Time

	signature string // base64, as sent
	dateLine  string // Date, "" under x-amz-date, or Expires as sent
	params    []param
}

// Expiry is when a presigned URL stops working (zero for header auth).
func (a *Auth) Expiry() time.Time { return a.Expires }

// Signs reports whether the signature covers the query parameter name: a sub-resource, a
// response-* override, one of the signature's own parameters, or (in a presigned URL) a
// Content-Type, Content-MD5 or x-amz-* parameter standing for a header. Any other parameter
// can be added or changed by whoever holds the URL.
func (a *Auth) Signs(name string) bool {
	if isSubResource(name) {
		return true
	}
	if a.Mode != QueryAuth {
		return false
	}
	switch name {
	case paramAccessKeyID, paramExpires, paramSignature:
		return true
	}
	return hasAmzPrefix(name) || strings.EqualFold(name, "Content-Type") || strings.EqualFold(name, "Content-MD5")
}

// Params returns the names of the request's query parameters, decoded, in order.
func (a *Auth) Params() []string {
	names := make([]string, len(a.params))
	for i, p := range a.params {
		names[i] = p.key
	}
	return names
}

// Header returns the headers a presigned URL carries as query parameters (Content-Type,
// Content-MD5, x-amz-*), which its signature covers in place of the request's own headers of
// those names; nil for header auth. A server applies them as the request's headers, as the
// signer meant it to.
func (a *Auth) Header() http.Header {
	if a.Mode != QueryAuth {
		return nil
	}
	var h http.Header
	for _, p := range a.params {
		if hasAmzPrefix(p.key) || strings.EqualFold(p.key, "Content-Type") || strings.EqualFold(p.key, "Content-MD5") {
			if h == nil {
				h = http.Header{}
			}
			h.Add(p.key, p.value)
		}
	}
	return h
}

// InRequest reports whether r is signed with Signature Version 2, well or badly: an
// Authorization header of scheme "AWS", or an AWSAccessKeyId or Signature query parameter
// without the parameters of a Signature Version 4 URL. A server that does not accept SigV2
// uses it to answer such requests as S3 does where SigV2 never existed. It is on the path of
// every request, so it reads the query without decoding or allocating.
func InRequest(r *http.Request) bool {
	authz := r.Header.Get("Authorization")
	if strings.HasPrefix(authz, "AWS ") {
		return true
	}
	if strings.HasPrefix(authz, "AWS4-") {
		return false
	}
	raw := r.URL.RawQuery
	if !strings.Contains(raw, paramAccessKeyID) && !strings.Contains(raw, paramSignature) {
		return false
	}
	v2 := false
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		name, _, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(name, "%+") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
		}
		switch name {
		case paramAccessKeyID, paramSignature:
			v2 = true
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature":
			return false
		}
	}
	return v2
}

// queryV2 reports whether the query carries a SigV2 signature parameter.
func queryV2(params []param) bool {
	for _, p := range params {
		if p.key == paramAccessKeyID || p.key == paramSignature {
			return true
		}
	}
	return false
}

// queryV4 reports whether the query carries a SigV4 signature parameter.
func queryV4(params []param) bool {
	for _, p := range params {
		switch p.key {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature":
			return true
		}
	}
	return false
}

// Parse extracts the Signature Version 2 signature of a request from its Authorization header
// or its query. A request with neither fails with KindMissingAuth; with both, KindMultipleAuth.
// An Authorization header of another scheme (e.g. "Bearer") is ignored when the query carries
// the signature: HTTP clients forward the Authorization of the request they followed a redirect
// from.
func Parse(r *http.Request) (*Auth, error) {
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(KindQueryParams, "The query string is not valid percent-encoding.")
	}
	authz := r.Header.Get("Authorization")
	header := strings.HasPrefix(authz, "AWS ")
	query := queryV2(params)
	switch {
	case header && (query || queryV4(params)):
		return nil, &Error{Kind: KindMultipleAuth}
	case query && queryV4(params):
		return nil, &Error{Kind: KindMultipleAuth}
	case header:
		return parseHeader(authz, r, params)
	case query:
		return parseQueryAuth(params)
	}
	return nil, &Error{Kind: KindMissingAuth}
}

// parseHeader parses "AWS <access key>:<signature>" and the request's date.
func parseHeader(authz string, r *http.Request, params []param) (*Auth, error) {
	cred := strings.TrimPrefix(authz, "AWS ")
	i := strings.LastIndexByte(cred, ':')
	if i <= 0 || i == len(cred)-1 || strings.ContainsAny(cred, " \t") {
		return nil, &Error{Kind: KindHeaderMalformed, Header: authz}
	}
	a := &Auth{Mode: HeaderAuth, AccessKeyID: cred[:i], signature: cred[i+1:], params: params}
	// x-amz-date takes the place of Date, which then signs as an empty line.
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, ok := parseDate(v)
		if !ok {
			return nil, &Error{Kind: KindMissingDate}
		}
		a.Date = t
		return a, nil
	}
	v := r.Header.Get("Date")
	t, ok := parseDate(v)
	if !ok {
		return nil, &Error{Kind: KindMissingDate}
	}
	a.Date, a.dateLine = t, strings.TrimSpace(v)
	return a, nil
}

// dateLayouts are the forms of Date and x-amz-date clients send: HTTP's three (RFC 1123
// first), RFC 1123 with a numeric zone (s3cmd writes "+0000"), and ISO 8601 basic.
var dateLayouts = []string{http.TimeFormat, time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC, "20060102T150405Z"}

func parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseQueryAuth(params []param) (*Auth, error) {
	a := &Auth{Mode: QueryAuth, params: params}
	var expires string
	var seen int
	for _, p := range params {
		switch p.key {
		case paramAccessKeyID:
			a.AccessKeyID, seen = p.value, seen|1
		case paramExpires:
			expires, seen = p.value, seen|2
		case paramSignature:
			// A base64 signature has no spaces; a '+' left unescaped in the URL decoded to one.
			a.signature, seen = strings.ReplaceAll(p.value, " ", "+"), seen|4
		}
	}
	if seen != 7 || a.AccessKeyID == "" || a.signature == "" || expires == "" {
		return nil, &Error{Kind: KindQueryParams}
	}
	if !allDigits(expires) {
		return nil, errorf(KindQueryParams, "Invalid date (should be seconds since epoch): %s", expires)
	}
	n, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || n > maxExpires {
		return nil, errorf(KindQueryParams, "Invalid date (should be seconds since epoch): %s", expires)
	}
	a.Expires = time.Unix(n, 0).UTC()
	a.dateLine = expires
	return a, nil
}

// maxExpires keeps Expires within what time.Time and the error bodies can show (year 9999).
const maxExpires = 253402300799

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
