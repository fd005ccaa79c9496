package gcsv4

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// PostRequest is what a V4 POST policy covers: an HTML form upload (XML API "POST Object") of
// one object, whose form fields and conditions the policy fixes.
type PostRequest struct {
	// Endpoint, Bucket, Object and Style are as in Request.
	Endpoint       string
	Bucket, Object string
	Style          Style
	// Fields are form fields the client must post with exactly these values
	// ("content-type", "success_action_status", "x-goog-meta-…"); each is a condition of the
	// policy too.
	Fields map[string]string
	// Conditions are the policy's other conditions, first in its list (ContentLengthRange,
	// StartsWith).
	Conditions []Condition
}

// Condition is one array condition of a POST policy, as its JSON lists it.
type Condition []any

// ContentLengthRange holds the uploaded file to min..max bytes, enforced by Google before it
// keeps them.
func ContentLengthRange(minBytes, maxBytes int64) Condition {
	return Condition{"content-length-range", minBytes, maxBytes}
}

// StartsWith lets the form field ("$name") take any value that starts with prefix.
func StartsWith(field, prefix string) Condition {
	return Condition{"starts-with", field, prefix}
}

// SignedPost is a signed POST policy: the URL the form posts to and every field it posts
// before the file (the policy and its signature among them).
type SignedPost struct {
	URL    string
	Fields map[string]string
	// Policy is the policy document before its base64 encoding.
	Policy string
}

// SignPost signs a POST policy at now for ttl (1 s to MaxExpires), as Google's client libraries
// do: the conditions, then the fields by name, then bucket, key and the x-goog-* fields.
func (s *Signer) SignPost(r PostRequest, now time.Time, ttl time.Duration) (SignedPost, error) {
	if ttl < time.Second || ttl > MaxExpires {
		return SignedPost{}, fmt.Errorf("gcsv4: expiry %v is outside 1s..%v", ttl, MaxExpires)
	}
	ep, err := url.Parse(r.Endpoint)
	if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") {
		return SignedPost{}, fmt.Errorf("gcsv4: endpoint %q must be http(s)://host[:port]", r.Endpoint)
	}
	host, path := ep.Host, "/"
	switch r.Style {
	case PathStyle:
		path = "/" + r.Bucket + "/"
	case VirtualHostedStyle:
		host = r.Bucket + "." + host
	case BucketBoundHostname:
	default:
		return SignedPost{}, fmt.Errorf("gcsv4: unknown style %d", r.Style)
	}
	now = now.UTC()
	date := now.Format("20060102T150405Z")
	credential := s.Email + "/" + date[:8] + "/auto/storage/goog4_request"

	var doc strings.Builder
	doc.WriteString(`{"conditions":[`)
	for _, c := range r.Conditions {
		writeCondition(&doc, c)
		doc.WriteByte(',')
	}
	names := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	fields := map[string]string{"key": r.Object, "x-goog-date": date, "x-goog-credential": credential, "x-goog-algorithm": AlgorithmRSA}
	for _, k := range names {
		writeField(&doc, k, r.Fields[k])
		doc.WriteByte(',')
		fields[k] = r.Fields[k]
	}
	writeField(&doc, "bucket", r.Bucket)
	for _, k := range []string{"key", "x-goog-date", "x-goog-credential", "x-goog-algorithm"} {
		doc.WriteByte(',')
		writeField(&doc, k, fields[k])
	}
	doc.WriteString(`],"expiration":`)
	writeJSONString(&doc, now.Add(ttl).Format(time.RFC3339))
	doc.WriteByte('}')

	policy := base64.StdEncoding.EncodeToString([]byte(doc.String()))
	digest := sha256.Sum256([]byte(policy))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, digest[:])
	if err != nil {
		return SignedPost{}, fmt.Errorf("gcsv4: sign policy: %w", err)
	}
	fields["policy"] = policy
	fields["x-goog-signature"] = hex.EncodeToString(sig)
	return SignedPost{URL: ep.Scheme + "://" + host + escapePath(path), Fields: fields, Policy: doc.String()}, nil
}

func writeField(b *strings.Builder, name, value string) {
	b.WriteByte('{')
	writeJSONString(b, name)
	b.WriteByte(':')
	writeJSONString(b, value)
	b.WriteByte('}')
}

func writeCondition(b *strings.Builder, c Condition) {
	b.WriteByte('[')
	for i, v := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		switch v := v.(type) {
		case string:
			writeJSONString(b, v)
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			fmt.Fprintf(b, "%q", fmt.Sprint(v))
		}
	}
	b.WriteByte(']')
}

// writeJSONString writes s as a JSON string with every character outside printable ASCII
// escaped (\u00e9), as Google's conformance vectors encode the policy.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}
