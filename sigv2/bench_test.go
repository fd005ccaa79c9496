package sigv2

import (
	"net/http"
	"net/url"
	"testing"
)

// Benchmarks of verification with the shapes clients send: a presigned GET as botocore makes
// it by default, a header-signed PutObject as s3cmd sends it, and a POST form.
//
//	go test -run '^$' -bench . -benchmem ./sigv2

func BenchmarkVerifyPresigned(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:9000/bucket/photos/2026/holiday%20video.mp4?response-content-disposition=attachment%3B%20filename%3D%22v.mp4%22")
	pu, err := testSigner.Presign(http.MethodGet, u, "", nil, testNow.Add(15*60e9))
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, pu.String(), nil)
	r.Header.Set("User-Agent", "curl/8.0")
	benchVerify(b, r)
}

func BenchmarkVerifyHeader(b *testing.B) {
	r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/dir/file%20name.txt", nil)
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Content-Length", "1048576")
	r.Header.Set("X-Amz-Date", testNow.Format("Mon, 02 Jan 2006 15:04:05 +0000"))
	r.Header.Set("X-Amz-Meta-S3cmd-Attrs", "md5:5d41402abc4b2a76b9719d911017c592/size:1048576")
	r.Header.Set("X-Amz-Storage-Class", "STANDARD")
	if err := testSigner.SignRequest(r, "", testNow); err != nil {
		b.Fatal(err)
	}
	benchVerify(b, r)
}

func benchVerify(b *testing.B, r *http.Request) {
	if _, err := testVerifier.Verify(r, "", testNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testVerifier.Verify(r, "", testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPost(b *testing.B) {
	policy := "eyJleHBpcmF0aW9uIjogIjIwMTMtMDUtMjRUMDE6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJidWNrZXQiOiAiYnVja2V0In0sIFsic3RhcnRzLXdpdGgiLCAiJGtleSIsICJ1cGxvYWRzLyJdXX0="
	form := map[string]string{"awsaccesskeyid": "AKIDV2", "policy": policy, "signature": testSigner.SignPolicy(policy), "key": "uploads/a"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testVerifier.VerifyPost(form); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInRequestSigV4URL is what every SigV4 presigned request pays for SigV2 detection.
func BenchmarkInRequestSigV4URL(b *testing.B) {
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260301T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", nil)
	b.ReportAllocs()
	for b.Loop() {
		if InRequest(r) {
			b.Fatal("a SigV4 URL taken for SigV2")
		}
	}
}
