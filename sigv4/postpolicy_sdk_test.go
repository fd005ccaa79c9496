package sigv4_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"presign/sigv4"
)

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// TestMinioPostPolicyVerifies: a form made by minio-go's PresignedPostPolicy is accepted, and
// its content-length-range is reported.
func TestMinioPostPolicyVerifies(t *testing.T) {
	mc := minioClient(t, "http://127.0.0.1:9", nil)
	p := minio.NewPostPolicy()
	p.SetBucket(testBucket)
	p.SetKeyStartsWith("u/42/")
	p.SetContentType("video/mp4")
	p.SetContentLengthRange(1, 5<<20)
	p.SetExpires(time.Now().Add(10 * time.Minute))
	p.SetUserMetadata("origin", "browser")
	p.SetSuccessStatusAction("201")
	_, form, err := mc.PresignedPostPolicy(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	form = lowerKeys(form)
	form["key"] = "u/42/video.mp4"
	v := &sigv4.Verifier{Region: testRegion, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey}}
	pa, err := v.VerifyPost(form, testBucket, time.Now())
	if err != nil {
		t.Fatalf("VerifyPost: %v\nform %v", err, form)
	}
	if min, max, ok := pa.Policy.ContentLengthRange(); !ok || min != 1 || max != 5<<20 {
		t.Fatalf("content-length-range %d..%d %v", min, max, ok)
	}
	form["key"] = "u/43/video.mp4"
	if _, err := v.VerifyPost(form, testBucket, time.Now()); kindOf(err) != sigv4.KindPolicyViolation {
		t.Fatalf("key outside the prefix: got %v", err)
	}
}

func kindOf(err error) sigv4.Kind {
	var e *sigv4.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// TestPostPolicyRules: forms from Signer.SignPost, altered one way at a time.
func TestPostPolicyRules(t *testing.T) {
	now := time.Now()
	v := &sigv4.Verifier{Region: testRegion, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey}}
	sign := func(exp time.Time) map[string]string {
		f, err := testSigner.SignPost(map[string]string{
			"key": "u/7/file.bin", "Content-Type": "application/pdf", "x-amz-meta-owner": "7", "success_action_status": "201",
		}, []sigv4.PolicyCondition{
			{Op: sigv4.OpEq, Field: "bucket", Value: testBucket},
			{Op: sigv4.OpStartsWith, Field: "x-amz-meta-tag", Value: ""},
			{Op: sigv4.OpContentLengthRange, Min: 10, Max: 100},
		}, exp, now)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name   string
		change func(f map[string]string)
		exp    time.Time
		bucket string
		kind   sigv4.Kind
	}{
		{"valid", func(map[string]string) {}, now.Add(time.Minute), testBucket, 0},
		{"empty starts-with allows any value", func(f map[string]string) { f["x-amz-meta-tag"] = "anything" }, now.Add(time.Minute), testBucket, 0},
		{"x-ignore fields are free", func(f map[string]string) { f["x-ignore-me"] = "1" }, now.Add(time.Minute), testBucket, 0},
		{"expired", func(map[string]string) {}, now.Add(-time.Second), testBucket, sigv4.KindPolicyViolation},
		{"field not covered", func(f map[string]string) { f["x-amz-meta-extra"] = "1" }, now.Add(time.Minute), testBucket, sigv4.KindPolicyViolation},
		{"eq condition broken", func(f map[string]string) { f["content-type"] = "text/html" }, now.Add(time.Minute), testBucket, sigv4.KindPolicyViolation},
		{"other bucket", func(map[string]string) {}, now.Add(time.Minute), "other", sigv4.KindPolicyViolation},
		{"policy tampered", func(f map[string]string) {
			raw, _ := base64.StdEncoding.DecodeString(f["policy"])
			f["policy"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `100]`, `999999]`, 1)))
		}, now.Add(time.Minute), testBucket, sigv4.KindSignatureMismatch},
		{"signature missing", func(f map[string]string) { delete(f, "x-amz-signature") }, now.Add(time.Minute), testBucket, sigv4.KindPolicyViolation},
		{"unknown access key", func(f map[string]string) {
			f["x-amz-credential"] = strings.Replace(f["x-amz-credential"], testAccessKey, "AKIAOTHER", 1)
		}, now.Add(time.Minute), testBucket, sigv4.KindInvalidAccessKeyID},
		{"wrong region", func(f map[string]string) {
			f["x-amz-credential"] = strings.Replace(f["x-amz-credential"], testRegion, "eu-west-1", 1)
		}, now.Add(time.Minute), testBucket, sigv4.KindQueryParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sign(tc.exp)
			tc.change(f)
			_, err := v.VerifyPost(f, tc.bucket, now)
			if kindOf(err) != tc.kind || (tc.kind == 0) != (err == nil) {
				t.Fatalf("got %v, want kind %v", err, tc.kind)
			}
		})
	}
}

func TestParsePostPolicyRejectsMalformed(t *testing.T) {
	for _, doc := range []string{
		`not json`,
		`{"conditions": []}`,
		`{"expiration": "tomorrow", "conditions": []}`,
		`{"expiration": "2030-01-01T00:00:00Z"}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "x"]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["in", "$key", "x"]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 10, 1]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 1]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": 1}]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": []} trailing`,
	} {
		_, err := sigv4.ParsePostPolicy(base64.StdEncoding.EncodeToString([]byte(doc)))
		if kindOf(err) != sigv4.KindInvalidPolicy {
			t.Errorf("%s: got %v, want KindInvalidPolicy", doc, err)
		}
	}
	if _, err := sigv4.ParsePostPolicy("%%%"); kindOf(err) != sigv4.KindInvalidPolicy {
		t.Errorf("bad base64: got %v", err)
	}
	p, err := sigv4.ParsePostPolicy(base64.StdEncoding.EncodeToString([]byte(
		`{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [["content-length-range", "5", 1e3], {"ACL": "private"}, ["starts-with", "$Content-Type", "image/"]]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if min, max, _ := p.ContentLengthRange(); min != 5 || max != 1000 {
		t.Fatalf("range %d..%d", min, max)
	}
	if p.Conditions[1].Field != "acl" || p.Conditions[2].Field != "content-type" {
		t.Fatalf("field names are not case-folded: %+v", p.Conditions)
	}
}
