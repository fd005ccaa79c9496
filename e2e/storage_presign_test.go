package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/sigv4"
)

var rootSigner = &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, Region: testRegion}

// presignURL signs method on base+path with extra query parameters, at time at.
func presignURL(t *testing.T, method, base, path string, query url.Values, header http.Header, at time.Time, ttl time.Duration) string {
	t.Helper()
	u, err := url.Parse(base + path)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = query.Encode()
	pu, err := rootSigner.Presign(method, u, header, at, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return pu.String()
}

func mustCreateBucket(t *testing.T, endpoint, bucket string) {
	t.Helper()
	if _, err := awsClient(endpoint).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
}

func objectExists(t *testing.T, endpoint, bucket, key string) bool {
	t.Helper()
	_, err := awsClient(endpoint).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

// TestPresignedEdgeCases: what a presigned URL does not allow is refused, and the presign
// extensions are enforced, also across a restart.
func TestPresignedEdgeCases(t *testing.T) { forEachBackend(t, testPresignedEdgeCases) }

func testPresignedEdgeCases(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "edge")
	now := time.Now()
	ct := http.Header{"Content-Type": {"video/mp4"}}

	cases := []struct {
		name   string
		method string
		sign   func() string
		header http.Header
		body   string
		status int
		code   string
	}{
		{"expired", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/expired", nil, nil, now.Add(-2*time.Hour), time.Hour)
		}, nil, "x", 403, "AccessDenied"},
		{"not yet valid", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/future", nil, nil, now.Add(20*time.Minute), time.Hour)
		}, nil, "x", 403, "AccessDenied"},
		{"wrong method", http.MethodDelete, func() string {
			return presignURL(t, http.MethodGet, ep, "/edge/wrong-method", nil, nil, now, time.Hour)
		}, nil, "", 403, "SignatureDoesNotMatch"},
		{"tampered key", http.MethodPut, func() string {
			return strings.Replace(presignURL(t, http.MethodPut, ep, "/edge/mine", nil, nil, now, time.Hour), "/edge/mine", "/edge/yours", 1)
		}, nil, "x", 403, "SignatureDoesNotMatch"},
		{"tampered max bytes", http.MethodPut, func() string {
			u := presignURL(t, http.MethodPut, ep, "/edge/cap", url.Values{"X-Presign-Max-Bytes": {"4"}}, nil, now, time.Hour)
			return strings.Replace(u, "X-Presign-Max-Bytes=4", "X-Presign-Max-Bytes=400", 1)
		}, nil, "toolong", 403, "SignatureDoesNotMatch"},
		{"content type signed, another sent", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/typed", nil, ct, now, time.Hour)
		}, http.Header{"Content-Type": {"text/html"}}, "x", 403, "SignatureDoesNotMatch"},
		{"content type signed and sent", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/typed", nil, ct, now, time.Hour)
		}, ct, "x", 200, ""},
		{"unsigned x-amz header added", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/meta", nil, nil, now, time.Hour)
		}, http.Header{"X-Amz-Meta-Admin": {"true"}}, "x", 403, "AccessDenied"},
		{"max bytes exceeded by one", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/capped-over", url.Values{"X-Presign-Max-Bytes": {"1024"}}, nil, now, time.Hour)
		}, nil, strings.Repeat("a", 1025), 400, "EntityTooLarge"},
		{"max bytes met exactly", http.MethodPut, func() string {
			return presignURL(t, http.MethodPut, ep, "/edge/capped-exact", url.Values{"X-Presign-Max-Bytes": {"1024"}}, nil, now, time.Hour)
		}, nil, strings.Repeat("a", 1024), 200, ""},
		{"anonymous", http.MethodPut, func() string { return ep + "/edge/anon" }, nil, "x", 403, "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code, b := httpDo(t, tc.method, tc.sign(), tc.header, strings.NewReader(tc.body))
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %s, want %d %s\n%s", status, code, tc.status, tc.code, b)
			}
		})
	}
	for _, key := range []string{"expired", "future", "mine", "yours", "cap", "meta", "capped-over", "anon"} {
		if objectExists(t, ep, "edge", key) {
			t.Errorf("refused upload %q left an object", key)
		}
	}
	if !objectExists(t, ep, "edge", "capped-exact") {
		t.Error("upload of exactly X-Presign-Max-Bytes was not stored")
	}

	// A body streamed without Content-Length is cut at the cap too.
	u := presignURL(t, http.MethodPut, ep, "/edge/chunked-over", url.Values{"X-Presign-Max-Bytes": {"10"}}, nil, now, time.Hour)
	req, _ := http.NewRequest(http.MethodPut, u, struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 11))})
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || objectExists(t, ep, "edge", "chunked-over") {
		t.Fatalf("streamed body over the cap: status %d", resp.StatusCode)
	}

	// X-Presign-Once: the first use works, the second is refused, also after a restart.
	once := presignURL(t, http.MethodPut, ep, "/edge/once", url.Values{"X-Presign-Once": {"nonce-1"}}, nil, now, time.Hour)
	if status, code, _ := httpDo(t, http.MethodPut, once, nil, strings.NewReader("first")); status != 200 {
		t.Fatalf("first use: %d %s", status, code)
	}
	if status, code, _ := httpDo(t, http.MethodPut, once, nil, strings.NewReader("second")); status != 403 || code != "AccessDenied" {
		t.Fatalf("second use: %d %s", status, code)
	}
	// A once-URL whose upload failed (digest) can be used again.
	retry := presignURL(t, http.MethodPut, ep, "/edge/once-retry", url.Values{"X-Presign-Once": {"nonce-2"}}, nil, now, time.Hour)
	bad := http.Header{"Content-Md5": {"AAAAAAAAAAAAAAAAAAAAAA=="}}
	if status, code, _ := httpDo(t, http.MethodPut, retry, bad, strings.NewReader("data")); status != 400 || code != "BadDigest" {
		t.Fatalf("failed use: %d %s", status, code)
	}
	if err := node.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	node.restart("storage node")
	ep2 := node.url("storage node")
	once2 := strings.Replace(once, ep, ep2, 1)
	retry2 := strings.Replace(retry, ep, ep2, 1)
	// The URLs were signed for the old port: re-sign them for the new address with the same nonce.
	if ep2 != ep {
		once2 = presignURL(t, http.MethodPut, ep2, "/edge/once", url.Values{"X-Presign-Once": {"nonce-1"}}, nil, now, time.Hour)
		retry2 = presignURL(t, http.MethodPut, ep2, "/edge/once-retry", url.Values{"X-Presign-Once": {"nonce-2"}}, nil, now, time.Hour)
	}
	if status, code, _ := httpDo(t, http.MethodPut, once2, nil, strings.NewReader("third")); status != 403 || code != "AccessDenied" {
		t.Fatalf("use after restart: %d %s", status, code)
	}
	if status, code, _ := httpDo(t, http.MethodPut, retry2, nil, strings.NewReader("data")); status != 200 {
		t.Fatalf("retry of a failed once-URL: %d %s", status, code)
	}
	g, err := awsClient(ep2).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("edge"), Key: aws.String("once")})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, g.Body); string(got) != "first" {
		t.Fatalf("once object holds %q", got)
	}
}
