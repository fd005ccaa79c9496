package sigv2

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var (
	testCreds    = staticCreds{"AKIDV2": "v2-secret/with+symbols="}
	testSigner   = &Signer{AccessKeyID: "AKIDV2", SecretAccessKey: "v2-secret/with+symbols="}
	testVerifier = &Verifier{Credentials: testCreds}
	testNow      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// headerSigned returns a header-signed PUT with every signed part present.
func headerSigned(t *testing.T) *http.Request {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/dir/a%20b.txt?uploadId=U1&partNumber=2&foo=bar", nil)
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Content-MD5", "XUFAKrxLKna5cZ2REBfFkg==")
	r.Header.Set("X-Amz-Meta-Owner", "alice")
	r.Header.Set("User-Agent", "test")
	if err := testSigner.SignRequest(r, "", testNow); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHeaderTamperRefused changes each part a header signature covers, and each it does not.
func TestHeaderTamperRefused(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *http.Request)
		want   Kind // 0: still valid
	}{
		{"unchanged", func(r *http.Request) {}, 0},
		{"method", func(r *http.Request) { r.Method = http.MethodPost }, KindSignatureMismatch},
		{"path", func(r *http.Request) { r.URL.Path = "/bucket/dir/a%20c.txt"; r.URL.RawPath = "" }, KindSignatureMismatch},
		{"content-type", func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, KindSignatureMismatch},
		{"content-md5", func(r *http.Request) { r.Header.Set("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==") }, KindSignatureMismatch},
		{"content-md5 removed", func(r *http.Request) { r.Header.Del("Content-MD5") }, KindSignatureMismatch},
		{"date within skew", func(r *http.Request) { r.Header.Set("Date", testNow.Add(time.Minute).Format(http.TimeFormat)) }, KindSignatureMismatch},
		{"x-amz-meta changed", func(r *http.Request) { r.Header.Set("X-Amz-Meta-Owner", "mallory") }, KindSignatureMismatch},
		{"x-amz header added", func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }, KindSignatureMismatch},
		{"x-amz header removed", func(r *http.Request) { r.Header.Del("X-Amz-Meta-Owner") }, KindSignatureMismatch},
		{"x-amz-date added", func(r *http.Request) { r.Header.Set("X-Amz-Date", r.Header.Get("Date")) }, KindSignatureMismatch},
		{"sub-resource value", func(r *http.Request) { r.URL.RawQuery = "uploadId=U2&partNumber=2&foo=bar" }, KindSignatureMismatch},
		{"sub-resource added", func(r *http.Request) { r.URL.RawQuery += "&acl" }, KindSignatureMismatch},
		{"response override added", func(r *http.Request) { r.URL.RawQuery += "&response-content-type=text%2Fhtml" }, KindSignatureMismatch},
		{"host bucket", func(r *http.Request) {}, KindSignatureMismatch}, // verified with a host bucket below
		{"signature", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ":", ":A", 1)[:len(r.Header.Get("Authorization"))])
		}, KindSignatureMismatch},
		{"signature not base64", func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIDV2:%%%") }, KindSignatureMismatch},
		{"unknown key", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIDV2", "AKIDV3", 1))
		}, KindInvalidAccessKeyID},
		{"no colon", func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIDV2") }, KindHeaderMalformed},
		{"empty key", func(r *http.Request) { r.Header.Set("Authorization", "AWS :c2ln") }, KindHeaderMalformed},
		{"no date", func(r *http.Request) { r.Header.Del("Date") }, KindMissingDate},
		{"bad date", func(r *http.Request) { r.Header.Set("Date", "yesterday") }, KindMissingDate},
		{"bad x-amz-date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, KindMissingDate},
		{"date too old", func(r *http.Request) { r.Header.Set("Date", testNow.Add(-16*time.Minute).Format(http.TimeFormat)) }, KindTimeTooSkewed},
		{"date too new", func(r *http.Request) { r.Header.Set("Date", testNow.Add(16*time.Minute).Format(http.TimeFormat)) }, KindTimeTooSkewed},
		{"also presigned", func(r *http.Request) { r.URL.RawQuery += "&Signature=x" }, KindMultipleAuth},
		{"also SigV4 query", func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Algorithm=AWS4-HMAC-SHA256" }, KindMultipleAuth},
		{"unsigned parameter", func(r *http.Request) { r.URL.RawQuery = "uploadId=U1&partNumber=2&foo=baz&prefix=x" }, 0},
		{"unsigned header", func(r *http.Request) { r.Header.Set("User-Agent", "other"); r.Header.Set("Range", "bytes=0-1") }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := headerSigned(t)
			tc.change(r)
			hostBucket := ""
			if tc.name == "host bucket" {
				hostBucket = "other"
			}
			_, err := testVerifier.Verify(r, hostBucket, testNow)
			if got := kindOf(err); got != tc.want || (tc.want == 0) != (err == nil) {
				t.Fatalf("got %v (kind %d), want kind %d", err, got, tc.want)
			}
		})
	}
}

// presigned returns a presigned GET with a response override, valid until testNow+1h.
func presigned(t *testing.T) *http.Request {
	t.Helper()
	u, _ := url.Parse("http://127.0.0.1:9000/bucket/photo.jpg?response-content-disposition=attachment%3B%20filename%3D%22p.jpg%22&versionId=null")
	pu, err := testSigner.Presign(http.MethodGet, u, "", http.Header{"X-Amz-Security-Token": {"tok"}}, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, pu.String(), nil)
	r.Header.Set("X-Amz-Security-Token", "tok")
	return r
}

// TestPresignedTamperRefused changes each part a presigned URL's signature covers.
func TestPresignedTamperRefused(t *testing.T) {
	set := func(name, value string) func(r *http.Request) {
		return func(r *http.Request) {
			q := r.URL.Query()
			q.Set(name, value)
			r.URL.RawQuery = q.Encode()
		}
	}
	cases := []struct {
		name   string
		change func(r *http.Request)
		at     time.Time
		want   Kind
	}{
		{"unchanged", func(r *http.Request) {}, testNow, 0},
		{"at the expiry second", func(r *http.Request) {}, testNow.Add(time.Hour), 0},
		{"expired", func(r *http.Request) {}, testNow.Add(time.Hour + time.Second), KindExpired},
		{"method", func(r *http.Request) { r.Method = http.MethodDelete }, testNow, KindSignatureMismatch},
		{"path", func(r *http.Request) { r.URL.Path = "/bucket/other.jpg" }, testNow, KindSignatureMismatch},
		{"expires extended", set("Expires", "4102444800"), testNow, KindSignatureMismatch},
		{"override changed", set("response-content-disposition", "inline"), testNow, KindSignatureMismatch},
		{"version changed", set("versionId", "v2"), testNow, KindSignatureMismatch},
		{"header as query changed", set("x-amz-security-token", "other"), testNow, KindSignatureMismatch},
		{"content-type added as query", set("content-type", "text/html"), testNow, KindSignatureMismatch},
		{"content-type added as header", func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, testNow, KindSignatureMismatch},
		{"x-amz header added", func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "b") }, testNow, KindSignatureMismatch},
		{"signature", set("Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), testNow, KindSignatureMismatch},
		{"unknown key", set("AWSAccessKeyId", "AKIDV3"), testNow, KindInvalidAccessKeyID},
		{"no signature", func(r *http.Request) { q := r.URL.Query(); q.Del("Signature"); r.URL.RawQuery = q.Encode() }, testNow, KindQueryParams},
		{"no expires", func(r *http.Request) { q := r.URL.Query(); q.Del("Expires"); r.URL.RawQuery = q.Encode() }, testNow, KindQueryParams},
		{"expires not a number", set("Expires", "soon"), testNow, KindQueryParams},
		{"expires negative", set("Expires", "-1"), testNow, KindQueryParams},
		{"expires beyond year 9999", set("Expires", "999999999999999"), testNow, KindQueryParams},
		{"also header signed", func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIDV2:c2ln") }, testNow, KindMultipleAuth},
		{"foreign authorization ignored", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, testNow, 0},
		{"unsigned parameter", func(r *http.Request) { r.URL.RawQuery += "&prefix=x&X-Presign-Once=n" }, testNow, 0},
		{"signature with an unescaped plus", func(r *http.Request) {
			q := r.URL.Query()
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, url.QueryEscape(q.Get("Signature")), strings.ReplaceAll(url.QueryEscape(q.Get("Signature")), "%2B", "+"), 1)
		}, testNow, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := presigned(t)
			tc.change(r)
			a, err := testVerifier.Verify(r, "", tc.at)
			if got := kindOf(err); got != tc.want || (tc.want == 0) != (err == nil) {
				t.Fatalf("got %v (kind %d), want kind %d", err, got, tc.want)
			}
			if err == nil && (a.Mode != QueryAuth || !a.Expiry().Equal(testNow.Add(time.Hour))) {
				t.Fatalf("auth %+v", a)
			}
		})
	}
}

// TestSignsReportsCoveredParameters: what a server may trust in a SigV2 query.
func TestSignsReportsCoveredParameters(t *testing.T) {
	r := presigned(t)
	r.URL.RawQuery += "&X-Presign-Once=n&prefix=p&x-amz-acl=private&Content-Type=a%2Fb"
	a, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"response-content-disposition": true, "versionId": true, "x-amz-security-token": true, "x-amz-acl": true,
		"Content-Type": true, "Expires": true, "Signature": true, "AWSAccessKeyId": true,
		"X-Presign-Once": false, "prefix": false, "list-type": false, "x-id": false,
	} {
		if got := a.Signs(name); got != want {
			t.Errorf("Signs(%q) = %v, want %v", name, got, want)
		}
	}
	h := a.Header()
	if h.Get("X-Amz-Acl") != "private" || h.Get("Content-Type") != "a/b" || len(h) != 2 {
		t.Fatalf("Header() = %v", h)
	}
	hr := headerSigned(t)
	ha, err := Parse(hr)
	if err != nil {
		t.Fatal(err)
	}
	if ha.Signs("x-amz-acl") || ha.Signs("Expires") || !ha.Signs("uploadId") || ha.Header() != nil {
		t.Fatal("header auth claims query parameters it does not sign")
	}
}

// TestInRequestTellsSigV2FromSigV4: a server routes on it, and refuses SigV2 with it when off.
func TestInRequestTellsSigV2FromSigV4(t *testing.T) {
	for _, tc := range []struct {
		authz, query string
		want         bool
	}{
		{"AWS AK:sig", "", true},
		{"", "AWSAccessKeyId=AK&Expires=1&Signature=s", true},
		{"", "Signature=s", true},
		{"", "AWSAccessKeyId=AK", true},
		{"Bearer x", "AWSAccessKeyId=AK&Expires=1&Signature=s", true},
		{"AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request, SignedHeaders=host, Signature=00", "", false},
		{"AWS4-HMAC-SHA256 Credential=x", "Signature=s", false},
		{"", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00", false},
		{"", "X-Amz-Signature=00&AWSAccessKeyId=AK", false},
		{"", "prefix=Signature", false},
		{"", "", false},
		{"Basic abc", "", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://h/b/k?"+tc.query, nil)
		if tc.authz != "" {
			r.Header.Set("Authorization", tc.authz)
		}
		if got := InRequest(r); got != tc.want {
			t.Errorf("InRequest(%q, %q) = %v, want %v", tc.authz, tc.query, got, tc.want)
		}
	}
}

// TestVirtualHostResource: under virtual-host addressing the resource starts with the bucket
// the host names, and a bucket alone signs as "/bucket/".
func TestVirtualHostResource(t *testing.T) {
	for _, tc := range []struct{ url, hostBucket, want string }{
		{"http://bucket.s3.test/k.txt", "bucket", "/bucket/k.txt"},
		{"http://bucket.s3.test/", "bucket", "/bucket/"},
		{"http://s3.test/bucket", "", "/bucket/"},
		{"http://s3.test/bucket/", "", "/bucket/"},
		{"http://s3.test/bucket?acl", "", "/bucket/?acl"},
		{"http://s3.test/", "", "/"},
	} {
		r, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		if err := testSigner.SignRequest(r, tc.hostBucket, testNow); err != nil {
			t.Fatal(err)
		}
		if _, err := testVerifier.Verify(r, tc.hostBucket, testNow); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		r.Header.Set("Authorization", "AWS AKIDV2:AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
		_, err := testVerifier.Verify(r, tc.hostBucket, testNow)
		var e *Error
		if !errors.As(err, &e) || !strings.HasSuffix(e.StringToSign, "\n"+tc.want) {
			t.Fatalf("%s: string to sign %q, want it to end in %q", tc.url, e.StringToSign, tc.want)
		}
	}
}

// TestBucketSignedWithoutSlash: a client that signs a path-style bucket as sent ("/bucket")
// is accepted too.
func TestBucketSignedWithoutSlash(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "http://s3.test/bucket?acl", nil)
	r.Header.Set("Date", testNow.Format(http.TimeFormat))
	sig := sign(testCreds["AKIDV2"], []byte("GET\n\n\n"+testNow.Format(http.TimeFormat)+"\n/bucket?acl"))
	r.Header.Set("Authorization", "AWS AKIDV2:"+encode(sig))
	if _, err := testVerifier.Verify(r, "", testNow); err != nil {
		t.Fatal(err)
	}
}

// TestPresignWithHeadersInTheQuery: a URL whose query already carries a header (as botocore
// writes Content-Type) is signed with it as the header, and verifies.
func TestPresignWithHeadersInTheQuery(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9000/bucket/up.mp4?content-type=video%2Fmp4&x-amz-meta-owner=alice")
	pu, err := testSigner.Presign(http.MethodPut, u, "", nil, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPut, pu.String(), nil)
	if _, err := testVerifier.Verify(r, "", testNow); err != nil {
		t.Fatal(err)
	}
	r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "video%2Fmp4", "text%2Fhtml", 1)
	if _, err := testVerifier.Verify(r, "", testNow); kindOf(err) != KindSignatureMismatch {
		t.Fatalf("a changed query-carried Content-Type: %v", err)
	}
}
