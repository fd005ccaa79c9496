package gcsv4

import (
	"os"
	"testing"
	"time"
)

// BenchmarkSign measures one signed upload URL as the control plane's GCS provider asks for it,
// with each kind of key: the shared canonical request and string to sign, then an RSA-2048
// signature or an HMAC.
func BenchmarkSign(b *testing.B) {
	key, err := os.ReadFile("testdata/test_service_account.not-a-test.json")
	if err != nil {
		b.Fatal(err)
	}
	rsaSigner, err := ParseServiceAccount(key)
	if err != nil {
		b.Fatal(err)
	}
	hmacSigner, err := NewHMACSigner("GOOG1EXAMPLEACCESSID", testSecret)
	if err != nil {
		b.Fatal(err)
	}
	r := Request{Method: "PUT", Endpoint: "https://storage.googleapis.com", Bucket: "example-bucket", Object: "u/7/clip.mp4",
		Headers: map[string]string{"Content-Type": "video/mp4", "x-goog-content-length-range": "1048576,1048576", "x-goog-if-generation-match": "0"}}
	now := time.Now()
	for _, s := range []struct {
		name string
		sign func(Request, time.Time, time.Duration) (Signed, error)
	}{{"rsa", rsaSigner.Sign}, {"hmac", hmacSigner.Sign}} {
		b.Run("key="+s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.sign(r, now, 15*time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
