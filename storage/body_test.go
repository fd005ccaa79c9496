package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestParallelBodyHashesLikeSerial: hashing beside the reads gives the same sums and the same
// verdicts as hashing in line, for every read size.
func TestParallelBodyHashesLikeSerial(t *testing.T) {
	data := randomBytes(3<<20 + 12345)
	sum := md5.Sum(data)
	for _, tc := range []struct {
		name string
		opts BodyOptions
		err  bool
	}{
		{"plain", BodyOptions{Size: int64(len(data)), Compute: []string{"CRC32C", "SHA256"}}, false},
		{"right md5", BodyOptions{Size: -1, ContentMD5: sum[:]}, false},
		{"wrong md5", BodyOptions{Size: -1, ContentMD5: make([]byte, 16)}, true},
		{"too large", BodyOptions{Size: -1, MaxBytes: int64(len(data)) - 1}, true},
		{"short", BodyOptions{Size: int64(len(data)) + 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pool sync.Pool
			serial := NewBody(bytes.NewReader(data), tc.opts)
			_, serr := io.Copy(io.Discard, struct{ io.Reader }{serial})
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.HalfReader,
				iotest.OneByteReader,
			} {
				pb := NewParallelBody(context.Background(), wrap(bytes.NewReader(data)), tc.opts, &pool)
				got, perr := io.ReadAll(struct{ io.Reader }{pb})
				if (serr != nil) != tc.err || (perr != nil) != tc.err {
					t.Fatalf("serial err %v, parallel err %v, want error %v", serr, perr, tc.err)
				}
				if tc.err {
					continue
				}
				if !bytes.Equal(got, data) || pb.Sums().MD5 != serial.Sums().MD5 || pb.Sums().Checksums["SHA256"] != serial.Sums().Checksums["SHA256"] {
					t.Fatal("parallel sums differ from serial ones")
				}
			}
		})
	}
}

// TestParallelBodyStopsWithItsRequest: a body abandoned mid-way (its request ended) leaves no
// goroutine behind and reports why.
func TestParallelBodyStopsWithItsRequest(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		pb := NewParallelBody(ctx, bytes.NewReader(randomBytes(4<<20)), BodyOptions{Size: -1}, nil)
		buf := make([]byte, 64<<10)
		pb.Read(buf)
		cancel()
		var err error
		for err == nil {
			_, err = pb.Read(buf)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned body: %v", err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left behind", n-before)
	}
}

func BenchmarkBodySerial(b *testing.B)   { benchBody(b, false) }
func BenchmarkBodyParallel(b *testing.B) { benchBody(b, true) }

func benchBody(b *testing.B, parallel bool) {
	data := randomBytes(64 << 20)
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var body *CheckedBody
		if parallel {
			body = NewParallelBody(context.Background(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, nil)
		} else {
			body = NewBody(bytes.NewReader(data), BodyOptions{Size: int64(len(data))})
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{body}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
