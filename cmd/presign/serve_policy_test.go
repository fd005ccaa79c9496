package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"presign/sigv4"
)

// TestServeBucketTakesNoPolicy: presign serve keeps its control plane's bucket private to its
// users' tickets. A bucket policy that opens a prefix to anyone, which the node accepts on any
// other bucket, is refused on serve's own bucket, so no anonymous read can reach the files.
func TestServeBucketTakesNoPolicy(t *testing.T) {
	const ak, sk = "AKSERVEPOLICY", "serve-policy-secret"
	_, stor := startServe(t, map[string]string{"PRESIGN_ACCESS_KEY": ak, "PRESIGN_SECRET_KEY": sk})
	signer := &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, Region: "us-east-1"}
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, stor+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := signer.SignRequest(req, sigv4.UnsignedPayload, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	policy := func(bucket string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},` +
			`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/pub/*"]}]}`
	}
	if st, body := do(http.MethodPut, "/other", ""); st != http.StatusOK {
		t.Fatalf("CreateBucket other: %d %s", st, body)
	}
	if st, body := do(http.MethodPut, "/other?policy", policy("other")); st != http.StatusNoContent {
		t.Fatalf("a policy on another bucket of the node: %d %s", st, body)
	}
	st, body := do(http.MethodPut, "/presign?policy", policy("presign"))
	if st != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("a policy on serve's own bucket: %d %s", st, body)
	}
	if st, body := do(http.MethodGet, "/presign?"+url.Values{"policy": {""}}.Encode(), ""); st != http.StatusNotFound || !strings.Contains(body, "NoSuchBucketPolicy") {
		t.Fatalf("GetBucketPolicy of serve's bucket after the refusal: %d %s", st, body)
	}
}
