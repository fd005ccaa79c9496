package sigv4

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A browser uploads with an HTML form (POST Object). The form carries a base64 policy document
// that lists what the form may contain, and the signature of that base64 string (the string to
// sign of SigV4 POST is the policy itself).

// Condition ops of a POST policy.
const (
	OpEq                 = "eq"
	OpStartsWith         = "starts-with"
	OpContentLengthRange = "content-length-range"
)

// PolicyCondition is one condition of a POST policy.
type PolicyCondition struct {
	Op    string // OpEq, OpStartsWith or OpContentLengthRange
	Field string // lower-case form field name without '$', e.g. "key", "content-type"; "bucket" is the target bucket
	Value string // the value (eq) or prefix (starts-with); an empty prefix allows any value
	Min   int64  // content-length-range
	Max   int64  // content-length-range
}

// MarshalJSON writes the condition in its policy form: ["eq", "$field", "value"],
// ["starts-with", "$field", "prefix"] or ["content-length-range", min, max].
func (c PolicyCondition) MarshalJSON() ([]byte, error) {
	if c.Op == OpContentLengthRange {
		return json.Marshal([]any{c.Op, c.Min, c.Max})
	}
	return json.Marshal([]string{c.Op, "$" + c.Field, c.Value})
}

// String gives the condition as S3 quotes it in an error message.
func (c PolicyCondition) String() string {
	b, _ := c.MarshalJSON()
	return string(b)
}

// PostPolicy is a parsed POST policy document.
type PostPolicy struct {
	Expiration time.Time
	Conditions []PolicyCondition
}

// ContentLengthRange returns the bounds of the file size, if the policy sets them.
func (p *PostPolicy) ContentLengthRange() (min, max int64, ok bool) {
	for _, c := range p.Conditions {
		if c.Op == OpContentLengthRange {
			return c.Min, c.Max, true
		}
	}
	return 0, 0, false
}

// maxPolicySize bounds the decoded policy document; S3's own limit on POST form fields is
// 20 KB, so a larger policy cannot be legitimate.
const maxPolicySize = 64 << 10

// ParsePostPolicy decodes the base64 policy field of a POST form. Failures are KindInvalidPolicy.
func ParsePostPolicy(b64 string) (*PostPolicy, error) {
	if len(b64) > base64.StdEncoding.EncodedLen(maxPolicySize) {
		return nil, errorf(KindInvalidPolicy, "The policy document is larger than %d bytes.", maxPolicySize)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errorf(KindInvalidPolicy, "Invalid Policy: Invalid 'policy' field: it is not valid base64.")
	}
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, errorf(KindInvalidPolicy, "Invalid Policy: Invalid JSON.")
	}
	if dec.More() {
		return nil, errorf(KindInvalidPolicy, "Invalid Policy: trailing data after the JSON document.")
	}
	if doc.Expiration == nil {
		return nil, errorf(KindInvalidPolicy, "Invalid Policy: Policy missing expiration.")
	}
	exp, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return nil, errorf(KindInvalidPolicy, "Invalid Policy: Invalid 'expiration' value: %q.", *doc.Expiration)
	}
	p := &PostPolicy{Expiration: exp, Conditions: make([]PolicyCondition, 0, len(doc.Conditions))}
	if doc.Conditions == nil {
		return nil, errorf(KindInvalidPolicy, "Invalid Policy: Policy missing conditions.")
	}
	for _, rc := range doc.Conditions {
		c, err := parseCondition(rc)
		if err != nil {
			return nil, err
		}
		p.Conditions = append(p.Conditions, c...)
	}
	return p, nil
}

func parseCondition(raw json.RawMessage) ([]PolicyCondition, error) {
	bad := func(why string) error {
		return errorf(KindInvalidPolicy, "Invalid Policy: Invalid Condition %s: %s.", string(raw), why)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, bad("not an object")
		}
		if len(m) != 1 {
			return nil, bad("an object condition must have exactly one field")
		}
		var out []PolicyCondition
		for k, v := range m {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, bad("the value must be a string")
			}
			if k == "" {
				return nil, bad("the field name is empty")
			}
			out = append(out, PolicyCondition{Op: OpEq, Field: strings.ToLower(k), Value: s})
		}
		return out, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 {
		return nil, bad("a condition must be an object or an array of three elements")
	}
	var op string
	if err := json.Unmarshal(arr[0], &op); err != nil {
		return nil, bad("the operator must be a string")
	}
	switch op = strings.ToLower(op); op {
	case OpEq, OpStartsWith:
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil {
			return nil, bad("field and value must be strings")
		}
		if !strings.HasPrefix(field, "$") || len(field) < 2 {
			return nil, bad("the field must start with '$'")
		}
		return []PolicyCondition{{Op: op, Field: strings.ToLower(field[1:]), Value: value}}, nil
	case OpContentLengthRange:
		min, err1 := policyInt(arr[1])
		max, err2 := policyInt(arr[2])
		if err1 != nil || err2 != nil || min < 0 || max < min {
			return nil, bad("the range must be two integers 0 <= min <= max")
		}
		return []PolicyCondition{{Op: op, Min: min, Max: max}}, nil
	}
	return nil, bad("unknown operator " + strconv.Quote(op))
}

// policyInt accepts a JSON integer or a string holding one, as S3 does.
func policyInt(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		n = json.Number(s)
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || f > math.MaxInt64 || f < 0 {
			return 0, err
		}
		v = int64(f)
	}
	return v, nil
}

// PostAuth is a verified POST form.
type PostAuth struct {
	AccessKeyID string
	Policy      *PostPolicy
}

// postExempt are form fields that need no condition: the signature and policy themselves, the
// file, and x-ignore-* fields.
func postExempt(field string) bool {
	return field == "x-amz-signature" || field == "policy" || field == "file" || strings.HasPrefix(field, "x-ignore-")
}

// VerifyPost checks a POST Object form at time now: the SigV4 fields, the signature of the
// policy, its expiry, and that every form field is allowed by a condition and every condition
// holds. form maps lower-case field names to values, without the file; bucket is the bucket
// the form was posted to. The file size (content-length-range) is for the caller to enforce
// while the file streams, with PostAuth.Policy.ContentLengthRange.
func (v *Verifier) VerifyPost(form map[string]string, bucket string, now time.Time) (*PostAuth, error) {
	for _, f := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if form[f] == "" {
			return nil, errorf(KindPolicyViolation, "Invalid according to Policy: the form has no %q field.", f)
		}
	}
	if form["x-amz-algorithm"] != Algorithm {
		return nil, errorf(KindQueryParams, "X-Amz-Algorithm only supports %q.", Algorithm)
	}
	a := &Auth{Mode: QueryAuth}
	if err := a.setCredential(form["x-amz-credential"], KindQueryParams); err != nil {
		return nil, err
	}
	t, err := time.Parse(TimeFormat, form["x-amz-date"])
	if err != nil {
		return nil, errorf(KindQueryParams, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	a.AmzDate, a.Date = form["x-amz-date"], t
	if err := v.checkScope(a, KindQueryParams); err != nil {
		return nil, err
	}
	if err := a.setSignature(form["x-amz-signature"], KindQueryParams); err != nil {
		return nil, err
	}
	secret, ok := v.Credentials.SecretKey(a.AccessKeyID)
	if !ok {
		return nil, &Error{Kind: KindInvalidAccessKeyID, AccessKeyID: a.AccessKeyID}
	}
	key := v.Keys.Key(secret, a.Scope)
	sig := signString(&key, []byte(form["policy"]))
	if subtle.ConstantTimeCompare(sig[:], a.Signature[:]) != 1 {
		return nil, &Error{Kind: KindSignatureMismatch, AccessKeyID: a.AccessKeyID, StringToSign: form["policy"], Signature: hex.EncodeToString(a.Signature[:])}
	}
	p, err := ParsePostPolicy(form["policy"])
	if err != nil {
		return nil, err
	}
	if err := p.Allows(form, bucket, now); err != nil {
		return nil, err
	}
	return &PostAuth{AccessKeyID: a.AccessKeyID, Policy: p}, nil
}

// Allows checks a form against the policy at time now: the policy has not expired, and Check
// holds. A form signed otherwise (Signature Version 2) is checked with it too, after its
// signature was.
func (p *PostPolicy) Allows(form map[string]string, bucket string, now time.Time) error {
	if !now.Before(p.Expiration) {
		return &Error{Kind: KindPolicyViolation, Message: "Invalid according to Policy: Policy expired.", Expires: p.Expiration, ServerTime: now}
	}
	return p.Check(form, bucket)
}

// Check tests the form against the policy's conditions: each condition holds, and each form
// field (except the exempt ones) is named by some condition.
func (p *PostPolicy) Check(form map[string]string, bucket string) error {
	covered := make(map[string]bool, len(p.Conditions))
	for _, c := range p.Conditions {
		if c.Op == OpContentLengthRange {
			continue
		}
		covered[c.Field] = true
		var got string
		var present bool
		if c.Field == "bucket" {
			got, present = bucket, true
		} else {
			got, present = form[c.Field]
		}
		ok := present && (c.Op == OpEq && got == c.Value || c.Op == OpStartsWith && strings.HasPrefix(got, c.Value))
		if c.Op == OpStartsWith && c.Value == "" {
			ok = true // an empty prefix allows any value, and the field may be absent
		}
		if !ok {
			return errorf(KindPolicyViolation, "Invalid according to Policy: Policy Condition failed: %s", c)
		}
	}
	for f := range form {
		if !postExempt(f) && !covered[f] {
			return errorf(KindPolicyViolation, "Invalid according to Policy: Extra input fields: %s", f)
		}
	}
	return nil
}

// SignPost builds the fields of a POST Object form: fields (key, Content-Type, x-amz-meta-*,
// success_action_status, ...) plus the SigV4 fields and the signed policy. The policy holds an
// exact-match condition for every field given, the SigV4 fields, and the extra conditions
// (starts-with, content-length-range); it expires at expiration.
func (s *Signer) SignPost(fields map[string]string, extra []PolicyCondition, expiration, t time.Time) (map[string]string, error) {
	t = t.UTC()
	scope := s.Scope(t)
	out := make(map[string]string, len(fields)+6)
	for k, v := range fields {
		out[strings.ToLower(k)] = v
	}
	out["x-amz-algorithm"] = Algorithm
	out["x-amz-credential"] = s.Credentials.AccessKeyID + "/" + scope.String()
	out["x-amz-date"] = t.Format(TimeFormat)
	if s.Credentials.SessionToken != "" {
		out["x-amz-security-token"] = s.Credentials.SessionToken
	}
	conds := make([]PolicyCondition, 0, len(out)+len(extra))
	for _, k := range slices.Sorted(maps.Keys(out)) {
		conds = append(conds, PolicyCondition{Op: OpEq, Field: k, Value: out[k]})
	}
	conds = append(conds, extra...)
	doc, err := json.Marshal(struct {
		Expiration string            `json:"expiration"`
		Conditions []PolicyCondition `json:"conditions"`
	}{expiration.UTC().Format("2006-01-02T15:04:05.000Z"), conds})
	if err != nil {
		return nil, fmt.Errorf("sigv4: post policy: %w", err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	key := s.Keys.Key(s.Credentials.SecretAccessKey, scope)
	sig := signString(&key, []byte(policy))
	out["policy"] = policy
	out["x-amz-signature"] = hex.EncodeToString(sig[:])
	return out, nil
}
