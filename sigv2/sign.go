package sigv2

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Signer makes Signature Version 2 signatures with one access key, as S3 clients do. presign
// signs with Signature Version 4 only; this is for tests and tools that must speak to the
// storage node as those clients do. It is safe for concurrent use.
type Signer struct {
	AccessKeyID     string
	SecretAccessKey string
}

// SignRequest signs r in its Authorization header at time t. It sets Date to t unless r
// carries x-amz-date (which then dates the request). hostBucket is the bucket the Host names
// under virtual-host addressing ("" for path style). Headers added to r afterwards other than
// x-amz-* ones are not covered, and x-amz-* ones break the signature.
func (s *Signer) SignRequest(r *http.Request, hostBucket string, t time.Time) error {
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("sigv2: sign: query of %q: %w", r.URL.Redacted(), err)
	}
	date := ""
	if r.Header.Get("X-Amz-Date") == "" {
		date = t.UTC().Format(http.TimeFormat)
		r.Header.Set("Date", date)
	}
	c := canonical{method: r.Method, path: firstPath(escapedPath(r), hostBucket), params: params, header: r.Header, date: date, hostBucket: hostBucket}
	sig := sign(s.SecretAccessKey, c.appendStringToSign(nil))
	r.Header.Set("Authorization", "AWS "+s.AccessKeyID+":"+base64.StdEncoding.EncodeToString(sig[:]))
	return nil
}

// Presign returns u with AWSAccessKeyId, Expires and Signature added, for method, working
// until expires. header lists the Content-Type, Content-MD5 and x-amz-* headers the client
// will send, which the signature covers. Only the sub-resources of u's query are signed.
func (s *Signer) Presign(method string, u *url.URL, hostBucket string, header http.Header, expires time.Time) (*url.URL, error) {
	params, err := parseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("sigv2: presign: query of %q: %w", u.Redacted(), err)
	}
	for _, p := range params {
		if p.key == paramAccessKeyID || p.key == paramExpires || p.key == paramSignature {
			return nil, fmt.Errorf("sigv2: presign: URL already carries %s", p.key)
		}
	}
	if header == nil {
		header = http.Header{}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	exp := strconv.FormatInt(expires.Unix(), 10)
	c := canonical{method: method, path: firstPath(path, hostBucket), params: params, header: header, fromQuery: true, date: exp, hostBucket: hostBucket}
	sig := sign(s.SecretAccessKey, c.appendStringToSign(nil))
	out := *u
	q := url.Values{paramAccessKeyID: {s.AccessKeyID}, paramExpires: {exp}, paramSignature: {base64.StdEncoding.EncodeToString(sig[:])}}
	if out.RawQuery != "" {
		out.RawQuery += "&"
	}
	out.RawQuery += q.Encode()
	return &out, nil
}

// SignPolicy returns the signature field of a POST form: the base64 HMAC-SHA1 of its base64
// policy field.
func (s *Signer) SignPolicy(policy string) string {
	sig := sign(s.SecretAccessKey, []byte(policy))
	return base64.StdEncoding.EncodeToString(sig[:])
}

func firstPath(p, hostBucket string) string {
	path, _ := resourcePath(p, hostBucket)
	return path
}
