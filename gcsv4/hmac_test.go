package gcsv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testSecret has the shape of a Cloud Storage HMAC secret (40 characters of base64), with the
// '/' and '+' that a signer decoding it as base64 instead of taking its text would mangle.
const testSecret = "EXAMPLE/secret+of/forty=characters+01234"

// goog4Signature is Google's HMAC V4 signature of stringToSign, written out from the
// documented steps independently of HMACSigner: the signing key is HMAC-SHA256 chained from
// "GOOG4"+secret through the scope's date, location, service and "goog4_request"; the
// signature is the hex HMAC-SHA256 of the string to sign under it.
func goog4Signature(secret, stringToSign string) string {
	lines := strings.Split(stringToSign, "\n")
	scope := strings.Split(lines[2], "/") // date/location/service/goog4_request
	key := []byte("GOOG4" + secret)
	for _, part := range scope {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(part))
		key = m.Sum(nil)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// TestHMACSigningKeepsGoogleV4VectorsButTheAlgorithmAndSignature signs every one of Google's
// V4 cases with an HMAC key whose access ID is the vectors' service account: the canonical
// request, the string to sign and the URL must be Google's with GOOG4-HMAC-SHA256 named instead
// of GOOG4-RSA-SHA256, and the signature the HMAC derived here from the secret.
func TestHMACSigningKeepsGoogleV4VectorsButTheAlgorithmAndSignature(t *testing.T) {
	vectors, rsaSigner := loadVectors(t)
	s, err := NewHMACSigner(rsaSigner.Email, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	swap := func(s string) string {
		return strings.Replace(s, "X-Goog-Algorithm="+AlgorithmRSA, "X-Goog-Algorithm="+AlgorithmHMAC, 1)
	}
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			ep, style := v.endpoint()
			q := url.Values{}
			for k, val := range v.QueryParameters {
				q.Set(k, val)
			}
			r := Request{Method: v.Method, Endpoint: ep, Bucket: v.Bucket, Object: v.Object, Style: style, Headers: v.Headers, Query: q}
			ttl := time.Duration(v.Expiration) * time.Second
			got, err := s.Sign(r, v.Timestamp, ttl)
			if err != nil {
				t.Fatal(err)
			}
			// The one upstream case whose listed canonical request is not the one signed (see
			// TestSignReproducesGoogleV4Vectors) is compared with the RSA path's, which hashes
			// to Google's string to sign.
			wantCanon := v.ExpectedCanonical
			if !consistent(v) {
				rsaGot, err := rsaSigner.Sign(r, v.Timestamp, ttl)
				if err != nil {
					t.Fatal(err)
				}
				wantCanon = rsaGot.CanonicalRequest
			}
			wantCanon = swap(wantCanon)
			if got.CanonicalRequest != wantCanon {
				t.Errorf("canonical request:\n%s\nwant:\n%s", got.CanonicalRequest, wantCanon)
			}
			lines := strings.Split(v.ExpectedStringToSgn, "\n")
			sum := sha256.Sum256([]byte(wantCanon))
			wantSTS := strings.Join([]string{AlgorithmHMAC, lines[1], lines[2], hex.EncodeToString(sum[:])}, "\n")
			if got.StringToSign != wantSTS {
				t.Errorf("string to sign:\n%s\nwant:\n%s", got.StringToSign, wantSTS)
			}
			unsigned, _, ok := strings.Cut(v.ExpectedURL, "&X-Goog-Signature=")
			if !ok {
				t.Fatalf("vector URL without a signature: %s", v.ExpectedURL)
			}
			wantURL := swap(unsigned) + "&X-Goog-Signature=" + goog4Signature(testSecret, wantSTS)
			if got.URL != wantURL {
				t.Errorf("URL:\n%s\nwant:\n%s", got.URL, wantURL)
			}
		})
	}
}

// TestHMACSignatureMatchesOpenSSL pins one signed upload against a signature computed outside
// Go, with the OpenSSL command line over the string to sign below (printf without a trailing
// newline):
//
//	k=$(printf %s 20261207 | openssl dgst -sha256 -mac HMAC -macopt "key:GOOG4$SECRET" -binary | xxd -p -c 256)
//	for p in auto storage goog4_request; do
//	  k=$(printf %s $p | openssl dgst -sha256 -mac HMAC -macopt hexkey:$k -binary | xxd -p -c 256)
//	done
//	printf %s "$STRING_TO_SIGN" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$k
//
// so that a mistake shared by the signer and this package's test helper cannot pass.
func TestHMACSignatureMatchesOpenSSL(t *testing.T) {
	s, err := NewHMACSigner("GOOG1EXAMPLEACCESSID", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign(Request{Method: "PUT", Endpoint: "https://storage.googleapis.com", Bucket: "example-bucket", Object: "u/7/clip one.mp4",
		Headers: map[string]string{"Content-Type": "video/mp4", "x-goog-content-length-range": "1048576,1048576", "x-goog-if-generation-match": "0"}},
		time.Date(2026, 12, 7, 20, 15, 0, 0, time.UTC), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const (
		stringToSign = "GOOG4-HMAC-SHA256\n20261207T201500Z\n20261207/auto/storage/goog4_request\n95850acd99d8be920fa3c2a9d29745cb0b403ebada5e607658a66838bc5d9136"
		openssl      = "790524761ece63c0babcf30129f166be80fc478fcdbbe58f83ca754e80db4be9"
	)
	if got.StringToSign != stringToSign {
		t.Fatalf("string to sign:\n%s\nwant the one OpenSSL signed:\n%s", got.StringToSign, stringToSign)
	}
	if !strings.HasSuffix(got.URL, "&X-Goog-Signature="+openssl) {
		t.Errorf("URL %s\nwant the signature %s", got.URL, openssl)
	}
	if !strings.Contains(got.URL, "X-Goog-Credential=GOOG1EXAMPLEACCESSID%2F20261207%2Fauto%2Fstorage%2Fgoog4_request") {
		t.Errorf("URL %s does not name the access ID in its credential", got.URL)
	}
}

// TestHMACSignerDerivesANewKeyEachDay signs just before and just after midnight UTC: each URL
// must be signed with the key of its own date, not the one kept from the day before.
func TestHMACSignerDerivesANewKeyEachDay(t *testing.T) {
	s, err := NewHMACSigner("GOOG1EXAMPLEACCESSID", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Method: "GET", Endpoint: "https://storage.googleapis.com", Bucket: "b", Object: "o"}
	midnight := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	for _, now := range []time.Time{midnight.Add(-time.Second), midnight.Add(time.Second), midnight.Add(-time.Second)} {
		got, err := s.Sign(r, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if want := "&X-Goog-Signature=" + goog4Signature(testSecret, got.StringToSign); !strings.HasSuffix(got.URL, want) {
			t.Errorf("at %v: URL %s\nwant it to end %s", now, got.URL, want)
		}
	}
}

// TestHMACSignerRefusesAnIncompleteKey: both halves of the key are required, as given.
func TestHMACSignerRefusesAnIncompleteKey(t *testing.T) {
	for _, tc := range []struct{ id, secret string }{
		{"", testSecret},
		{"GOOG1EXAMPLEACCESSID", ""},
		{"GOOG1EXAMPLEACCESSID", testSecret + "\n"},
		{" GOOG1EXAMPLEACCESSID", testSecret},
	} {
		if _, err := NewHMACSigner(tc.id, tc.secret); err == nil {
			t.Errorf("NewHMACSigner(%q, %d-byte secret) accepted", tc.id, len(tc.secret))
		}
	}
}

// TestHMACSignerPrintsNoSecret: a signer that ends up in a log line shows its access ID only.
func TestHMACSignerPrintsNoSecret(t *testing.T) {
	s, err := NewHMACSigner("GOOG1EXAMPLEACCESSID", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, testSecret) || !strings.Contains(out, "GOOG1EXAMPLEACCESSID") {
			t.Errorf("%s printed %q", verb, out)
		}
	}
}
