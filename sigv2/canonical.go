package sigv2

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// subResources are the query parameters S3 puts in the string to sign: the sub-resources that
// name what a request acts on, and the response-* overrides of GET Object. It is the union of
// the lists of botocore (AWS's Python SDK), s3cmd and MinIO, sorted; a parameter that is not
// here is not signed.
var subResources = []string{
	"accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "encryption",
	"inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification",
	"object-lock", "partNumber", "policy", "replication", "requestPayment",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires", "restore",
	"retention", "select", "select-type", "storageClass", "tagging", "torrent", "uploadId",
	"uploads", "versionId", "versioning", "versions", "website",
}

// isSubResource reports whether a query parameter enters the canonical resource.
func isSubResource(name string) bool {
	_, ok := slices.BinarySearch(subResources, name)
	return ok
}

// Query parameters of a presigned URL.
const (
	paramAccessKeyID = "AWSAccessKeyId"
	paramExpires     = "Expires"
	paramSignature   = "Signature"
)

// param is one query parameter, decoded.
type param struct {
	key, value string
}

// parseQuery splits a raw query into decoded parameters. '+' decodes to a space, as in Go's
// url.ParseQuery and package sigv4; an empty pair ("a&&b") is skipped.
func parseQuery(raw string) ([]param, error) {
	if raw == "" {
		return nil, nil
	}
	params := make([]param, 0, 4)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		params = append(params, param{key: dk, value: dv})
	}
	return params, nil
}

// escapedPath is the request's path exactly as the client sent it: the signature covers those
// bytes, not a re-encoding of the decoded path.
func escapedPath(r *http.Request) string {
	if p := r.RequestURI; strings.HasPrefix(p, "/") {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// resourcePath is the path a signature covers for a request to escaped path p: S3 signs a
// path-style request for a bucket alone as "/bucket/" whether or not the client sent the slash
// (botocore relies on that). Some clients sign "/bucket" as sent; alt is that second form, or
// "" when there is none. hostBucket is the bucket the Host names ("" for path style).
func resourcePath(p, hostBucket string) (path, alt string) {
	if hostBucket == "" && len(p) > 1 && strings.IndexByte(p[1:], '/') < 0 {
		return p + "/", p
	}
	return p, ""
}

// signedHeader is a header name (lower case) and its value as it enters the string to sign.
type signedHeader struct{ name, value string }

// canonical holds what the string to sign is made of.
type canonical struct {
	method string
	path   string // escaped, as sent
	params []param
	header http.Header
	// fromQuery: Content-Type, Content-MD5 and x-amz-* may be given as query parameters, which
	// then take the place of the headers of the same name (a presigned URL).
	fromQuery bool
	date      string // the date line: Date, "" under x-amz-date, or Expires
	// hostBucket is the bucket named by the Host (virtual-host addressing), "" for path style.
	hostBucket string
}

// standardHeader returns the value of Content-MD5 or Content-Type for the string to sign.
func (c *canonical) standardHeader(name string) string {
	if c.fromQuery {
		for _, p := range c.params {
			if strings.EqualFold(p.key, name) {
				return strings.TrimSpace(p.value)
			}
		}
	}
	return strings.TrimSpace(c.header.Get(name))
}

// amzHeaders collects the x-amz-* headers, sorted by lower-case name, each with its values
// trimmed and joined by ','. Query parameters replace headers of the same name. Names keep
// their case here and are lower-cased as they are written out.
func (c *canonical) amzHeaders(dst []signedHeader) []signedHeader {
	for name, values := range c.header {
		if !hasAmzPrefix(name) || c.fromQuery && c.queryHasHeader(name) {
			continue
		}
		dst = append(dst, signedHeader{name, joinTrimmed(values)})
	}
	if c.fromQuery {
		for _, p := range c.params {
			if !hasAmzPrefix(p.key) {
				continue
			}
			if i := slices.IndexFunc(dst, func(h signedHeader) bool { return strings.EqualFold(h.name, p.key) }); i >= 0 {
				dst[i].value += "," + strings.TrimSpace(p.value)
				continue
			}
			dst = append(dst, signedHeader{p.key, strings.TrimSpace(p.value)})
		}
	}
	slices.SortFunc(dst, func(a, b signedHeader) int { return compareLower(a.name, b.name) })
	return dst
}

// compareLower compares two ASCII names as their lower-case forms, without building them.
func compareLower(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if ca, cb := lower(a[i]), lower(b[i]); ca != cb {
			return int(ca) - int(cb)
		}
	}
	return len(a) - len(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func (c *canonical) queryHasHeader(name string) bool {
	for _, p := range c.params {
		if strings.EqualFold(p.key, name) {
			return true
		}
	}
	return false
}

func hasAmzPrefix(name string) bool {
	return len(name) > 6 && strings.EqualFold(name[:6], "x-amz-")
}

func joinTrimmed(values []string) string {
	if len(values) == 1 {
		return strings.TrimSpace(values[0])
	}
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.TrimSpace(v))
	}
	return b.String()
}

// appendStringToSign appends the string to sign:
//
//	VERB \n Content-MD5 \n Content-Type \n date \n [x-amz-name:value \n ...] resource
func (c *canonical) appendStringToSign(dst []byte) []byte {
	dst = append(dst, c.method...)
	dst = append(dst, '\n')
	dst = append(dst, c.standardHeader("Content-Md5")...)
	dst = append(dst, '\n')
	dst = append(dst, c.standardHeader("Content-Type")...)
	dst = append(dst, '\n')
	dst = append(dst, c.date...)
	dst = append(dst, '\n')
	var buf [8]signedHeader
	for _, h := range c.amzHeaders(buf[:0]) {
		for i := 0; i < len(h.name); i++ {
			dst = append(dst, lower(h.name[i]))
		}
		dst = append(dst, ':')
		dst = append(dst, h.value...)
		dst = append(dst, '\n')
	}
	return c.appendResource(dst)
}

// appendResource appends the canonical resource: "/bucket" when the host names the bucket,
// the escaped path, then the sub-resources sorted by name (stable, so repeated ones keep their
// order), each "name" or "name=decoded value".
func (c *canonical) appendResource(dst []byte) []byte {
	if c.hostBucket != "" {
		dst = append(dst, '/')
		dst = append(dst, c.hostBucket...)
	}
	dst = append(dst, c.path...)
	var buf [4]param
	subs := buf[:0]
	for _, p := range c.params {
		if isSubResource(p.key) {
			subs = append(subs, p)
		}
	}
	slices.SortStableFunc(subs, func(a, b param) int { return strings.Compare(a.key, b.key) })
	for i, p := range subs {
		if i == 0 {
			dst = append(dst, '?')
		} else {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		if p.value != "" {
			dst = append(dst, '=')
			dst = append(dst, p.value...)
		}
	}
	return dst
}
