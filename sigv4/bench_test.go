package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the hot paths: verifying a presigned URL and a header-signed request with a
// warm key cache, and the aws-chunked readers' throughput (SHA-256 included).
//
//	go test -run '^$' -bench . -benchmem ./sigv4

var benchSigner = &Signer{Credentials: Credentials{AccessKeyID: "AKIABENCH", SecretAccessKey: "bench-secret"}, Region: "us-east-1"}

func benchVerifier() *Verifier {
	return &Verifier{Region: "us-east-1", Credentials: StaticCredentials{"AKIABENCH": "bench-secret"}, Keys: NewKeyCache(64)}
}

// BenchmarkVerifyPresigned verifies a presigned PUT of the shape the control plane issues:
// Content-Type signed, extension parameters.
func BenchmarkVerifyPresigned(b *testing.B) {
	now := time.Now()
	u, _ := url.Parse("http://127.0.0.1:9000/presign/u/01JABCDEF/01JUPLOAD/holiday%20video.mp4?X-Presign-Max-Bytes=3221225472&X-Presign-Once=01JNONCE0123456789")
	h := http.Header{"Content-Type": {"video/mp4"}}
	pu, err := benchSigner.Presign(http.MethodPut, u, h, now, 15*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPut, pu.String(), nil)
	r.Header = h
	v := benchVerifier()
	if _, err := v.Verify(r, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(r, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyHeader verifies a header-signed PutObject as aws-sdk-go-v2 sends it.
func BenchmarkVerifyHeader(b *testing.B) {
	now := time.Now()
	r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/some/key.bin?x-id=PutObject", nil)
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("Content-Length", "1048576")
	r.Header.Set("Amz-Sdk-Invocation-Id", "cfd6522a-aa91-4c78-aa8b-4555952c242e")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	r.Header.Set("Accept-Encoding", "identity")
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	r.Header.Set("Content-Encoding", "aws-chunked")
	if _, err := benchSigner.SignRequest(r, StreamingUnsignedTrailer, now); err != nil {
		b.Fatal(err)
	}
	v := benchVerifier()
	if _, err := v.Verify(r, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(r, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPresign(b *testing.B) {
	now := time.Now()
	u, _ := url.Parse("http://127.0.0.1:9000/presign/u/01JABCDEF/01JUPLOAD/video.mp4?X-Presign-Max-Bytes=3221225472")
	h := http.Header{"Content-Type": {"video/mp4"}}
	benchSigner.Keys = NewKeyCache(8)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchSigner.Presign(http.MethodPut, u, h, now, 15*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeriveKey(b *testing.B) {
	s := Scope{Date: "20260101", Region: "us-east-1", Service: "s3"}
	for b.Loop() {
		DeriveKey("bench-secret", s)
	}
}

func benchChunked(b *testing.B, signed bool, trailer string, chunk int) {
	const size = 64 << 20
	payload := bytes.Repeat([]byte("presign!"), size/8)
	o := chunkOptions(signed, trailer, size)
	wire, err := io.ReadAll(EncodeChunked(bytes.NewReader(payload), chunk, o))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := NewChunkedReader(bytes.NewReader(wire), o)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, onlyReader{r}, buf)
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}

// onlyReader hides io.WriterTo so that CopyBuffer uses the given buffer, as a server does.
type onlyReader struct{ io.Reader }

func BenchmarkChunkedSigned64KiB(b *testing.B) { benchChunked(b, true, "", 64<<10) }
func BenchmarkChunkedSigned1MiB(b *testing.B)  { benchChunked(b, true, "", 1<<20) }
func BenchmarkChunkedSignedTrailer(b *testing.B) {
	benchChunked(b, true, "x-amz-checksum-crc32c", 64<<10)
}
func BenchmarkChunkedUnsignedTrailerCRC32(b *testing.B) {
	benchChunked(b, false, "x-amz-checksum-crc32", 64<<10)
}
func BenchmarkChunkedUnsignedTrailerCRC64NVME(b *testing.B) {
	benchChunked(b, false, "x-amz-checksum-crc64nvme", 64<<10)
}

func BenchmarkHashedPayload(b *testing.B) {
	const size = 64 << 20
	payload := []byte(strings.Repeat("presign!", size/8))
	a := &Auth{Mode: HeaderAuth, PayloadHash: bodyHash(payload)}
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	for b.Loop() {
		r, _ := http.NewRequest(http.MethodPut, "http://x/b/k", bytes.NewReader(payload))
		p, err := NewPayloadReader(a, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, onlyReader{p}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
