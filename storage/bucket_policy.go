package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// A bucket policy here does one thing: it lets anyone read some of a bucket's objects without
// a signature, as thumbnails and static assets are served. That is the policy
// "mc anonymous set download" writes, and the only one the node accepts:
//
//   - Allow s3:GetObject to Principal "*" on arn:aws:s3:::bucket/prefix* (or an exact key);
//   - Allow s3:ListBucket to "*" on arn:aws:s3:::bucket, optionally only for listings whose
//     prefix is one of the values of a StringEquals s3:prefix condition;
//   - Allow s3:GetBucketLocation to "*" on arn:aws:s3:::bucket.
//
// Anything else (Deny, another principal or action, a wildcard inside a resource, another
// bucket's resource, a condition elsewhere) is refused with MalformedPolicy naming it, so that
// no policy is stored that the node would not enforce as written.

// maxPolicySize is S3's limit on a bucket policy document.
const maxPolicySize = 20 << 10

// IAM's action names of what the policy may allow.
const (
	actionGetObject   = "s3:GetObject"
	actionListBucket  = "s3:ListBucket"
	actionGetLocation = "s3:GetBucketLocation"
)

// bucketPolicy is a parsed, accepted policy: what an anonymous request may do.
type bucketPolicy struct {
	objectPrefixes []string // keys starting with one of these may be read ("" is every key)
	objectKeys     []string // keys that may be read exactly
	listAll        bool     // any listing
	listPrefixes   []string // listings whose prefix is exactly one of these
	location       bool     // GetBucketLocation
}

// allowsGet reports whether anyone may read key (GetObject, HeadObject).
func (p *bucketPolicy) allowsGet(key string) bool {
	if slices.Contains(p.objectKeys, key) {
		return true
	}
	for _, pre := range p.objectPrefixes {
		if strings.HasPrefix(key, pre) {
			return true
		}
	}
	return false
}

// allowsList reports whether anyone may list with the given prefix (present: the request had
// a prefix parameter).
func (p *bucketPolicy) allowsList(prefix string, present bool) bool {
	return p.listAll || present && slices.Contains(p.listPrefixes, prefix)
}

func malformedPolicy(format string, args ...any) *APIError {
	return &APIError{Code: "MalformedPolicy", Status: http.StatusBadRequest,
		Message: "This storage node accepts one kind of bucket policy: anonymous read (s3:GetObject, s3:ListBucket and s3:GetBucketLocation allowed to Principal \"*\"). " + fmt.Sprintf(format, args...)}
}

// parseBucketPolicy checks a policy document for bucket and returns what it allows.
func parseBucketPolicy(bucket string, doc []byte) (*bucketPolicy, error) {
	if len(doc) > maxPolicySize {
		return nil, &APIError{Code: "MalformedPolicy", Status: http.StatusBadRequest, Message: "Policy exceeds the maximum allowed document size."}
	}
	var top map[string]json.RawMessage
	if err := strictJSON(doc, &top); err != nil || top == nil {
		return nil, &APIError{Code: "MalformedPolicy", Status: http.StatusBadRequest, Message: "Policies must be valid JSON and the first byte must be '{'"}
	}
	for name, raw := range top {
		switch name {
		case "Version":
			var v string
			if json.Unmarshal(raw, &v) != nil || v != "2012-10-17" && v != "2008-10-17" {
				return nil, malformedPolicy("Version %s is not supported; use \"2012-10-17\".", raw)
			}
		case "Id":
			var id string
			if json.Unmarshal(raw, &id) != nil {
				return nil, malformedPolicy("Id must be a string.")
			}
		case "Statement":
		default:
			return nil, malformedPolicy("The element %q is not supported.", name)
		}
	}
	raws, err := oneOrMany(top["Statement"])
	if err != nil || len(raws) == 0 {
		return nil, malformedPolicy("Statement must be a statement or a non-empty list of them.")
	}
	p := &bucketPolicy{}
	for i, raw := range raws {
		if err := p.addStatement(bucket, raw); err != nil {
			return nil, malformedPolicy("Statement %d: %s", i+1, err.Error())
		}
	}
	return p, nil
}

// addStatement checks one statement and adds what it allows.
func (p *bucketPolicy) addStatement(bucket string, raw json.RawMessage) error {
	var st map[string]json.RawMessage
	if err := strictJSON(raw, &st); err != nil || st == nil {
		return fmt.Errorf("a statement must be a JSON object")
	}
	for name := range st {
		switch name {
		case "Sid", "Effect", "Principal", "Action", "Resource", "Condition":
		default:
			return fmt.Errorf("%s is not supported", name)
		}
	}
	var effect string
	if json.Unmarshal(st["Effect"], &effect) != nil || effect != "Allow" {
		return fmt.Errorf("its Effect %s is not supported; only \"Allow\" is", orMissing(st["Effect"]))
	}
	if !anyonePrincipal(st["Principal"]) {
		return fmt.Errorf("its Principal %s is not supported; only \"*\" (anyone) is", orMissing(st["Principal"]))
	}
	actions, err := strings1(st["Action"])
	if err != nil || len(actions) == 0 {
		return fmt.Errorf("its Action must be a string or a list of strings")
	}
	resources, err := strings1(st["Resource"])
	if err != nil || len(resources) == 0 {
		return fmt.Errorf("its Resource must be a string or a list of strings")
	}
	listPrefixes, err := prefixCondition(st["Condition"])
	if err != nil {
		return err
	}
	bucketARN := "arn:aws:s3:::" + bucket
	for _, a := range actions {
		switch a {
		case actionGetObject:
			if listPrefixes != nil {
				return fmt.Errorf("a Condition on %s is not supported", a)
			}
			for _, r := range resources {
				rest, ok := strings.CutPrefix(r, bucketARN+"/")
				if !ok {
					return fmt.Errorf("its Resource %q is not an object of bucket %q (arn:aws:s3:::%s/prefix*)", r, bucket, bucket)
				}
				pre, wild := strings.CutSuffix(rest, "*")
				if strings.ContainsAny(pre, "*?") {
					return fmt.Errorf("its Resource %q has a wildcard before its end; only a trailing * is supported", r)
				}
				if wild {
					p.objectPrefixes = append(p.objectPrefixes, pre)
				} else {
					p.objectKeys = append(p.objectKeys, pre)
				}
			}
		case actionListBucket, actionGetLocation:
			for _, r := range resources {
				if r != bucketARN {
					return fmt.Errorf("its Resource %q of %s is not bucket %q (%s)", r, a, bucket, bucketARN)
				}
			}
			if a == actionGetLocation {
				if listPrefixes != nil {
					return fmt.Errorf("a Condition on %s is not supported", a)
				}
				p.location = true
			} else if listPrefixes == nil {
				p.listAll = true
			} else {
				p.listPrefixes = append(p.listPrefixes, listPrefixes...)
			}
		default:
			return fmt.Errorf("its Action %q is not supported; only %s, %s and %s are", a, actionGetObject, actionListBucket, actionGetLocation)
		}
	}
	return nil
}

// anyonePrincipal accepts "*", {"AWS": "*"} and {"AWS": ["*"]}.
func anyonePrincipal(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]json.RawMessage
	if strictJSON(raw, &m) != nil || len(m) != 1 || m["AWS"] == nil {
		return false
	}
	v, err := strings1(m["AWS"])
	return err == nil && len(v) == 1 && v[0] == "*"
}

// prefixCondition reads {"StringEquals": {"s3:prefix": "p" | ["p", ...]}}; nil when raw is
// absent.
func prefixCondition(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var ops map[string]map[string]json.RawMessage
	if strictJSON(raw, &ops) != nil || len(ops) != 1 || ops["StringEquals"] == nil || len(ops["StringEquals"]) != 1 || ops["StringEquals"]["s3:prefix"] == nil {
		return nil, fmt.Errorf("its Condition %s is not supported; only {\"StringEquals\": {\"s3:prefix\": [...]}} on %s is", raw, actionListBucket)
	}
	v, err := strings1(ops["StringEquals"]["s3:prefix"])
	if err != nil || len(v) == 0 {
		return nil, fmt.Errorf("the s3:prefix condition must be a string or a list of strings")
	}
	return v, nil
}

// strings1 decodes a JSON string or list of strings.
func strings1(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, fmt.Errorf("missing")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	return l, nil
}

// oneOrMany decodes a JSON object or list of objects into their raw forms.
func oneOrMany(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return []json.RawMessage{raw}, nil
	}
	var l []json.RawMessage
	err := json.Unmarshal(raw, &l)
	return l, err
}

// strictJSON decodes one JSON value with nothing after it.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func orMissing(raw json.RawMessage) string {
	if raw == nil {
		return "(missing)"
	}
	return string(raw)
}
