package gcs_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"presign/control"
	"presign/control/provider/gcs"
	"presign/control/provider/gcs/gcstest"
	"presign/control/provider/providertest"
)

// newBucket starts fake-gcs-server in process, on a loopback port, with one bucket, and returns
// a provider on it, signing with the service account's RSA key.
func newBucket(t *testing.T) (*gcs.Provider, *fakestorage.Server) {
	t.Helper()
	return newBucketWith(t, gcs.Config{})
}

// newBucketWith is newBucket with the HMAC key of cfg.
func newBucketWith(t *testing.T, cfg gcs.Config) (*gcs.Provider, *fakestorage.Server) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0,
		PublicHost: "127.0.0.1", NoListener: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "files"})
	p, err := gcs.New(context.Background(), gcs.Config{Bucket: "files", Credentials: gcstest.ServiceAccount(), Endpoint: srv.URL(),
		HTTPClient: &http.Client{Timeout: time.Minute}, HMACAccessID: cfg.HMACAccessID, HMACSecret: cfg.HMACSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, srv
}

// testHMAC is an HMAC key of the shape Google issues (a GOOG1 access ID, a 40-character secret).
var testHMAC = gcs.Config{HMACAccessID: "GOOG1EPRESIGNTESTACCESSID", HMACSecret: "presign/test+hmac/secret=of+forty/chars0"}

// TestContractOnFakeGCS holds the GCS provider to the control plane's storage contract against
// fake-gcs-server (which, unlike Google, does not enforce x-goog-content-length-range: the
// contract's completion check catches the oversize object instead), with each kind of key
// signing the URLs (fake-gcs-server checks neither signature: package gcsv4 pins them).
func TestContractOnFakeGCS(t *testing.T) {
	for name, cfg := range map[string]gcs.Config{"key=rsa": {}, "key=hmac": testHMAC} {
		t.Run(name, func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) providertest.Target {
				p, _ := newBucketWith(t, cfg)
				// Google refuses a body that does not match the signed Content-MD5 or
				// x-goog-hash; fake-gcs-server reads neither header and checks no signature,
				// so here the MD5 and CRC32C it computes are compared at completion. A
				// composite object has a CRC32C and no MD5. Like Google, it keeps the
				// Cache-Control, Content-Encoding... a signed PUT or a form adds.
				return providertest.Target{Objects: p, Checksums: []string{"md5", "crc32c"}, PartChecksums: []string{"crc32c"},
					StoresAddedHeaders: true}
			})
		})
	}
}

// TestAnHMACKeySignsEveryURLWhenGiven: with an HMAC key configured, uploads, parts and
// downloads are all signed GOOG4-HMAC-SHA256 under its access ID; without one, with the service
// account's RSA key.
func TestAnHMACKeySignsEveryURLWhenGiven(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        gcs.Config
		algorithm  string
		credential string
	}{
		{"hmac", testHMAC, "GOOG4-HMAC-SHA256", "GOOG1EPRESIGNTESTACCESSID%2F"},
		{"rsa", gcs.Config{}, "GOOG4-RSA-SHA256", "presign-test%40example.iam.gserviceaccount.com%2F"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newBucketWith(t, tc.cfg)
			now := time.Now()
			up, err := p.SignUpload(control.UploadSigning{Key: "u/1/a/f.txt", ContentType: "text/plain", Size: 5, Now: now, TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			part, err := p.SignPart(control.PartSigning{Key: "u/1/a/f.txt", MultipartID: "compose:x", Number: 1, Size: 5, Now: now, TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			dl, err := p.SignDownload("u/1/a/f.txt", "attachment", "", now, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{up.URL, part.URL, dl} {
				if !strings.Contains(u, "X-Goog-Algorithm="+tc.algorithm+"&X-Goog-Credential="+tc.credential) {
					t.Errorf("URL %s\nwant it signed %s by %s", u, tc.algorithm, tc.credential)
				}
			}
		})
	}
}

// TestAnHMACKeyWithoutItsOtherHalfIsRefused: an access ID without its secret, or a secret
// without its access ID, is a configuration error, not a silent fall back to the RSA key.
func TestAnHMACKeyWithoutItsOtherHalfIsRefused(t *testing.T) {
	for _, cfg := range []gcs.Config{{HMACAccessID: testHMAC.HMACAccessID}, {HMACSecret: testHMAC.HMACSecret}} {
		cfg.Bucket, cfg.Credentials, cfg.HTTPClient = "files", gcstest.ServiceAccount(), http.DefaultClient
		if p, err := gcs.New(context.Background(), cfg); err == nil {
			p.Close()
			t.Errorf("New accepted an HMAC key with access ID %q and a %d-byte secret", cfg.HMACAccessID, len(cfg.HMACSecret))
		}
	}
}

// TestSignedUploadCarriesTheLimitsGoogleEnforces pins the headers a single upload and a part
// are signed with: what Google checks before it keeps the bytes.
func TestSignedUploadCarriesTheLimitsGoogleEnforces(t *testing.T) {
	p, _ := newBucket(t)
	now := time.Now()
	up, err := p.SignUpload(control.UploadSigning{Key: "u/1/a/f.txt", ContentType: "text/plain", Size: 5, Now: now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Content-Type": "text/plain", "x-goog-content-length-range": "5,5", "x-goog-if-generation-match": "0"}
	for k, v := range want {
		if up.Headers[k] != v {
			t.Errorf("upload header %s = %q, want %q", k, up.Headers[k], v)
		}
	}
	if !strings.Contains(up.URL, "X-Goog-SignedHeaders=content-type%3Bhost%3Bx-goog-content-length-range%3Bx-goog-if-generation-match") {
		t.Errorf("the limits are not signed: %s", up.URL)
	}
	undeclared, err := p.SignUpload(control.UploadSigning{Key: "u/1/a/f.txt", ContentType: "text/plain", MaxSize: 1000, Now: now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if undeclared.Headers["x-goog-content-length-range"] != "1,1000" {
		t.Errorf("an undeclared size is capped at %q, want 1,1000", undeclared.Headers["x-goog-content-length-range"])
	}
	part, err := p.SignPart(control.PartSigning{Key: "u/1/a/f.txt", MultipartID: "compose:x", Number: 7, Size: 5 << 20, Now: now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if part.Headers["x-goog-content-length-range"] != "5242880,5242880" || !strings.Contains(part.URL, "/files/u/1/a/f.txt~part/00007?") {
		t.Errorf("part 7: %s %v", part.URL, part.Headers)
	}
	dl, err := p.SignDownload("u/1/a/f.txt", `attachment; filename="f.txt"`, "text/plain", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dl, "response-content-disposition=attachment%3B%20filename%3D%22f.txt%22") || !strings.Contains(dl, "X-Goog-Expires=60") {
		t.Errorf("download URL %s", dl)
	}
}

// TestSignedUploadCarriesTheDeclaredChecksums pins that a single upload's declared MD5 and
// CRC32C are signed headers, Content-MD5 and x-goog-hash, which Google checks before it keeps
// the bytes (fake-gcs-server reads neither, so the contract sees only the check at completion).
func TestSignedUploadCarriesTheDeclaredChecksums(t *testing.T) {
	p, _ := newBucket(t)
	up, err := p.SignUpload(control.UploadSigning{Key: "u/1/a/f.txt", ContentType: "text/plain", Size: 5,
		MD5: "XUFAKrxLKna5cZ2REBfFkg==", CRC32C: "mnG7TA==", Now: time.Now(), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if up.Headers["Content-MD5"] != "XUFAKrxLKna5cZ2REBfFkg==" || up.Headers["x-goog-hash"] != "crc32c=mnG7TA==" {
		t.Errorf("upload headers %q, want Content-MD5 and x-goog-hash", up.Headers)
	}
	if !strings.Contains(up.URL, "X-Goog-SignedHeaders=content-md5%3Bcontent-type%3Bhost%3Bx-goog-content-length-range%3Bx-goog-hash%3Bx-goog-if-generation-match") {
		t.Errorf("the checksums are not signed: %s", up.URL)
	}
}

// TestFormAndHeaderlessPartsForUppy pins what Uppy's S3 plugin gets on GCS: a form whose policy
// fixes the key, the type and the size range, posted to the bucket's URL; and part URLs that
// require no header (Uppy sends none), whose parts are checked at completion instead.
func TestFormAndHeaderlessPartsForUppy(t *testing.T) {
	p, srv := newBucket(t)
	now := time.Now()
	url, fields, err := p.SignForm(control.UploadSigning{Key: "u/1/a/f.txt", ContentType: "text/plain", MaxSize: 1000, Now: now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if url != srv.URL()+"/files" || fields["key"] != "u/1/a/f.txt" || fields["Content-Type"] != "text/plain" || fields["success_action_status"] != "201" {
		t.Errorf("form %s %q", url, fields)
	}
	policy, err := base64.StdEncoding.DecodeString(fields["policy"])
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range []string{`["content-length-range",1,1000]`, `{"Content-Type":"text/plain"}`, `{"key":"u/1/a/f.txt"}`, `{"bucket":"files"}`} {
		if !strings.Contains(string(policy), cond) {
			t.Errorf("the policy %s lacks %s", policy, cond)
		}
	}
	part, err := p.SignPart(control.PartSigning{Key: "u/1/a/f.txt", MultipartID: "compose:x", Number: 3, Size: 5 << 20, Capped: true,
		URLOnly: true, Now: now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Headers) != 0 || !strings.Contains(part.URL, "X-Goog-SignedHeaders=host&") {
		t.Errorf("a URL-only part requires headers: %s %v", part.URL, part.Headers)
	}
}

// TestCompleteComposesManyPartsInATree sends more parts than one compose call takes (32) and
// checks the object is every part in part-number order, and that no part or intermediate
// object is left.
func TestCompleteComposesManyPartsInATree(t *testing.T) {
	p, srv := newBucket(t)
	ctx := context.Background()
	key := "u/1/t/big.bin"
	id, err := p.CreateMultipart(ctx, key, "application/x-test")
	if err != nil {
		t.Fatal(err)
	}
	const n = 70
	var want strings.Builder
	for i := n; i >= 1; i-- { // sent in reverse: the order comes from the numbers
		body := fmt.Sprintf("<%03d>", i)
		r, err := p.SignPart(control.PartSigning{Key: key, MultipartID: id, Number: i, Size: int64(len(body)), Now: time.Now(), TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(r.Method, r.URL, strings.NewReader(body))
		for k, v := range r.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("part %d: %s", i, resp.Status)
		}
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "<%03d>", i)
	}
	parts, err := p.ListParts(ctx, key, id)
	if err != nil || len(parts) != n {
		t.Fatalf("%d parts listed, %v", len(parts), err)
	}
	if _, err := p.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	obj, err := srv.GetObject("files", key)
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Content) != want.String() || obj.ContentType != "application/x-test" {
		t.Fatalf("object %q (%s)", obj.Content, obj.ContentType)
	}
	list, err := srv.ListObjectsWithOptionsPaginated("files", fakestorage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objs := list.Objects
	if len(objs) != 1 {
		var names []string
		for _, o := range objs {
			names = append(names, o.Name)
		}
		t.Fatalf("objects left beside the composed one: %v", names)
	}
	if _, err := p.ListParts(ctx, key, id); err != control.ErrNoMultipart {
		t.Fatalf("ListParts after completion: %v, want ErrNoMultipart", err)
	}
}
