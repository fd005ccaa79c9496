package sigv2

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the parsers of untrusted input. Seeds are in testdata/fuzz/<target>/ (taken
// from the clients' vectors) and below; each target checks properties, not just the absence of
// panics.

var fuzzNow = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// verifyTyped runs the whole verification, which must succeed or fail with an *Error.
func verifyTyped(t *testing.T, r *http.Request) {
	_, err := testVerifier.Verify(r, "", fuzzNow)
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("verify returned an untyped error: %v", err)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS AKIDV2:bSxF1cSkfB+EYxo9jNZoHdiaen4=", "Fri, 24 May 2013 00:00:00 GMT", "")
	f.Add("AWS AKIDV2:oGuVDzMHf9IMTEgOHqF+1W5TaPA=", "", "Fri, 24 May 2013 00:00:00 +0000")
	f.Add("AWS a:b:c", "20130524T000000Z", "garbage")
	f.Add("AWS :", "", "")
	f.Fuzz(func(t *testing.T, authz, date, amzDate string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/b/k"}, Host: "h", Header: http.Header{}}
		r.Header.Set("Authorization", authz)
		if date != "" {
			r.Header.Set("Date", date)
		}
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		a, err := Parse(r)
		if err == nil {
			if a.Mode != HeaderAuth || a.AccessKeyID == "" || a.signature == "" || a.Date.IsZero() {
				t.Fatalf("parsed %q into %+v", authz, a)
			}
			if strings.ContainsAny(a.AccessKeyID+a.signature, " \t") || strings.Contains(a.signature, ":") {
				t.Fatalf("parsed %q into key %q and signature %q", authz, a.AccessKeyID, a.signature)
			}
		} else if !strings.HasPrefix(authz, "AWS ") && kindOf(err) != KindMissingAuth {
			t.Fatalf("a header of another scheme %q failed with %v", authz, err)
		}
		verifyTyped(t, r)
	})
}

func FuzzParseQueryAuth(f *testing.F) {
	f.Add("AWSAccessKeyId=AKIDV2&Signature=w1YYhplKYPhhXKonmM0AVtkoh5k%3D&Expires=1369357200")
	f.Add("response-content-type=a%2Fb&AWSAccessKeyId=AKIDV2&Expires=1369357200&Signature=x+y&x-amz-meta-a=b&content-type=c")
	f.Add("AWSAccessKeyId=&Expires=-1&Signature=%zz")
	f.Add("Signature=s&X-Amz-Algorithm=AWS4-HMAC-SHA256")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/b/k", RawQuery: rawQuery}, Host: "h", Header: http.Header{}}
		a, err := Parse(r)
		if err == nil {
			if a.Mode != QueryAuth || a.AccessKeyID == "" || a.signature == "" || strings.Contains(a.signature, " ") {
				t.Fatalf("parsed %q into %+v", rawQuery, a)
			}
			if a.Expires.Year() > 9999 || a.Expires.Unix() < 0 {
				t.Fatalf("parsed %q into Expires %v", rawQuery, a.Expires)
			}
			if !InRequest(r) {
				t.Fatalf("Parse accepted %q that InRequest does not call SigV2", rawQuery)
			}
		}
		verifyTyped(t, r)
	})
}

// FuzzSignVerifyRoundTrip signs arbitrary requests in both forms and checks that they verify,
// and that changing a signed header then fails.
func FuzzSignVerifyRoundTrip(f *testing.F) {
	f.Add("PUT", "/bucket/a%20b+c/%C3%BC!", "uploadId=U&partNumber=1&prefix=p", "text/plain", "X-Amz-Meta-Owner", " alice ")
	f.Add("GET", "/bucket", "acl&versionId=null&response-content-type=a%2Fb", "", "X-Amz-Acl", "private")
	f.Add("DELETE", "/", "delete=&uploads", "x", "X-Amz-Meta-A", "a,b")
	f.Fuzz(func(t *testing.T, method, path, rawQuery, contentType, amzName, amzValue string) {
		u, err := url.Parse("http://127.0.0.1:9000" + path)
		if err != nil || u.Path != path && u.RawPath != path || u.RawQuery != "" || u.Fragment != "" {
			return
		}
		u.RawQuery = rawQuery
		if _, err := parseQuery(rawQuery); err != nil || strings.Contains(rawQuery, "#") {
			return
		}
		r, err := http.NewRequest(method, u.String(), nil)
		if err != nil || r.URL.RawQuery != rawQuery || !validHeader(contentType) || !validHeader(amzValue) {
			return
		}
		if !strings.HasPrefix(strings.ToLower(amzName), "x-amz-") || strings.EqualFold(amzName, "x-amz-date") || !validName(amzName) {
			return
		}
		params, _ := parseQuery(rawQuery)
		if queryV2(params) || queryV4(params) {
			return
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		r.Header.Set(amzName, amzValue)
		if err := testSigner.SignRequest(r, "", fuzzNow); err != nil {
			t.Fatal(err)
		}
		if _, err := testVerifier.Verify(r, "", fuzzNow); err != nil {
			t.Fatalf("header-signed %s %s: %v", method, u, err)
		}
		r.Header.Set(amzName, amzValue+"x")
		if _, err := testVerifier.Verify(r, "", fuzzNow); kindOf(err) != KindSignatureMismatch {
			t.Fatalf("changed %s accepted: %v", amzName, err)
		}

		h := http.Header{}
		h.Set(amzName, amzValue)
		pu, err := testSigner.Presign(method, u, "", h, fuzzNow.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		pr, _ := http.NewRequest(method, pu.String(), nil)
		pr.Header.Set(amzName, amzValue)
		if _, err := testVerifier.Verify(pr, "", fuzzNow); err != nil {
			t.Fatalf("presigned %s %s: %v", method, pu, err)
		}
	})
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func validName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func FuzzVerifyPost(f *testing.F) {
	f.Add("AKIDV2", "eyJleHBpcmF0aW9uIjogIjIwMTMtMDUtMjRUMDE6MDA6MDBaIn0=", "s8tM8Z+ejiUooYM6rD2tWVeIIFY=")
	f.Add("", "", "")
	f.Add("AKIDV2", "x", "%%%")
	f.Fuzz(func(t *testing.T, akid, policy, signature string) {
		form := map[string]string{"awsaccesskeyid": akid, "policy": policy, "signature": signature}
		a, err := testVerifier.VerifyPost(form)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil && (a.AccessKeyID != akid || testSigner.SignPolicy(policy) != signature) {
			t.Fatalf("accepted a form whose signature is not the policy's: %+v", form)
		}
	})
}
