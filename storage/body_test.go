package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"presign/sigv4"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// twoProcs runs t with GOMAXPROCS at least 2, below which a body never hashes beside its
// reads (newParallelBody falls back to hashing in line). On a single core the reader and the
// hasher take turns, through the same hand-offs, so the tests of the pipe and the lanes mean
// the same there and need not skip. A test that calls it must not run in parallel.
func twoProcs(t *testing.T) {
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

// TestParallelBodyHashesLikeSerial: hashing beside the reads gives the same sums and the same
// verdicts as hashing in line, for every read size.
func TestParallelBodyHashesLikeSerial(t *testing.T) {
	twoProcs(t)
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
			var bufs hashBuffers
			serial := NewBody(bytes.NewReader(data), tc.opts)
			_, serr := io.Copy(io.Discard, struct{ io.Reader }{serial})
			consumers := map[string]func(*CheckedBody) ([]byte, error){
				"Read": func(b *CheckedBody) ([]byte, error) { return io.ReadAll(struct{ io.Reader }{b}) },
				"WriteTo": func(b *CheckedBody) ([]byte, error) {
					var out bytes.Buffer
					n, err := b.WriteTo(&out)
					if n != int64(out.Len()) {
						t.Fatalf("WriteTo says %d bytes, wrote %d", n, out.Len())
					}
					return out.Bytes(), err
				},
			}
			for _, deep := range []bool{false, true} {
				for name, consume := range consumers {
					wraps := []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.HalfReader}
					if !deep { // one byte at a time works the same whatever the depth
						wraps = append(wraps, iotest.OneByteReader)
					}
					for _, wrap := range wraps {
						pb := newParallelBodyDeep(context.Background(), wrap(bytes.NewReader(data)), tc.opts, &bufs, deep)
						got, perr := consume(pb)
						if (serr != nil) != tc.err || (perr != nil) != tc.err {
							t.Fatalf("deep=%v %s: serial err %v, parallel err %v, want error %v", deep, name, serr, perr, tc.err)
						}
						if tc.err {
							continue
						}
						if !bytes.Equal(got, data) || pb.Sums().MD5 != serial.Sums().MD5 || pb.Sums().Checksums["SHA256"] != serial.Sums().Checksums["SHA256"] {
							t.Fatalf("deep=%v %s: parallel sums differ from serial ones", deep, name)
						}
					}
				}
			}
			if n, d := bufs.pipes.Load(), bufs.deepPipes.Load(); n != 0 || d != 0 {
				t.Fatalf("%d pipelines (%d deep) still counted after every body ended", n, d)
			}
		})
	}
}

// TestParallelBodyStopsWithItsRequest: a body abandoned mid-way (its request ended) leaves no
// goroutine behind and reports why.
func TestParallelBodyStopsWithItsRequest(t *testing.T) {
	twoProcs(t)
	before := runtime.NumGoroutine()
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		pb := newParallelBody(ctx, bytes.NewReader(randomBytes(4<<20)), BodyOptions{Size: -1}, nil)
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
	waitGoroutines(t, before)
}

// failingWriter fails every write.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestParallelBodyWriteToReportsTheWritersError: a write that fails ends WriteTo with that
// error, stops the hasher and gives the buffers back.
func TestParallelBodyWriteToReportsTheWritersError(t *testing.T) {
	twoProcs(t)
	before := runtime.NumGoroutine()
	var bufs hashBuffers
	disk := errors.New("disk on fire")
	for range 10 {
		pb := newParallelBodyDeep(context.Background(), bytes.NewReader(randomBytes(4<<20)), BodyOptions{Size: 4 << 20}, &bufs, true)
		if _, err := pb.WriteTo(failingWriter{disk}); !errors.Is(err, disk) {
			t.Fatalf("WriteTo into a failing writer: %v, want %v", err, disk)
		}
		if _, err := pb.Read(make([]byte, 10)); !errors.Is(err, disk) {
			t.Fatalf("Read after the failure: %v, want it again", err)
		}
	}
	if n := bufs.pipes.Load(); n != 0 {
		t.Fatalf("%d pipelines still counted", n)
	}
	waitGoroutines(t, before)
}

// TestDeepPipelinesAreBounded: only maxDeepBodies long bodies have a deep pipeline at once;
// the next gets the small one, and a deep pipeline is free again once its body has ended.
func TestDeepPipelinesAreBounded(t *testing.T) {
	twoProcs(t)
	var bufs hashBuffers
	var bodies []*CheckedBody
	for range maxDeepBodies + 1 {
		bodies = append(bodies, newParallelBody(t.Context(), bytes.NewReader([]byte("short")), BodyOptions{Size: deepBodyMin}, &bufs))
	}
	for i, b := range bodies {
		if want := i < maxDeepBodies; (cap(b.pipe.free) == deepSlots) != want {
			t.Fatalf("body %d: %d slots, deep wanted: %v", i, cap(b.pipe.free), want)
		}
	}
	if _, err := io.Copy(io.Discard, bodies[0]); !errors.Is(err, ErrIncompleteBody) {
		t.Fatalf("a body shorter than declared: %v", err)
	}
	if b := newParallelBody(t.Context(), bytes.NewReader(nil), BodyOptions{Size: deepBodyMin}, &bufs); cap(b.pipe.free) != deepSlots {
		t.Fatal("the deep pipeline of an ended body was not given back")
	}
	if b := newParallelBody(t.Context(), bytes.NewReader(nil), BodyOptions{Size: deepBodyMin - 1}, &bufs); cap(b.pipe.free) != pipeSlots {
		t.Fatal("a body shorter than deepBodyMin got a deep pipeline")
	}
}

// TestParallelHashingIsBoundedPerCore: past maxPipesPerProc bodies per core hashing in
// parallel, the next hashes in line, with the same result.
func TestParallelHashingIsBoundedPerCore(t *testing.T) {
	twoProcs(t)
	var bufs hashBuffers
	limit := maxPipesPerProc * runtime.GOMAXPROCS(0)
	for i := range limit {
		if b := newParallelBody(t.Context(), bytes.NewReader(nil), BodyOptions{Size: 0}, &bufs); b.pipe == nil {
			t.Fatalf("body %d of %d hashes in line", i, limit)
		}
	}
	data := randomBytes(1 << 20)
	b := newParallelBody(t.Context(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, &bufs)
	if b.pipe != nil {
		t.Fatalf("body %d hashes in parallel", limit+1)
	}
	if _, err := io.Copy(io.Discard, b); err != nil || b.Sums().MD5 != md5.Sum(data) {
		t.Fatalf("in line: %v, MD5 %x", err, b.Sums().MD5)
	}
}

// TestAbandonedBodyGivesBackItsBudget: a body that is never read (its request failed before)
// stops hashing when its request ends, and no longer counts against the bounds.
func TestAbandonedBodyGivesBackItsBudget(t *testing.T) {
	twoProcs(t)
	var bufs hashBuffers
	ctx, cancel := context.WithCancel(t.Context())
	newParallelBody(ctx, bytes.NewReader(randomBytes(1<<20)), BodyOptions{Size: deepBodyMin}, &bufs)
	if bufs.pipes.Load() != 1 || bufs.deepPipes.Load() != 1 {
		t.Fatalf("a new long body counts %d pipelines, %d deep; want 1 and 1", bufs.pipes.Load(), bufs.deepPipes.Load())
	}
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for (bufs.pipes.Load() != 0 || bufs.deepPipes.Load() != 0) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n, d := bufs.pipes.Load(), bufs.deepPipes.Load(); n != 0 || d != 0 {
		t.Fatalf("an abandoned body still counts: %d pipelines, %d deep", n, d)
	}
}

// waitGoroutines fails t unless the goroutines are back to before within 2 s.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
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
			body = newParallelBody(context.Background(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, nil)
		} else {
			body = NewBody(bytes.NewReader(data), BodyOptions{Size: int64(len(data))})
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{body}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSkipMD5LeavesMD5ZeroUnlessDeclared: a body told to skip MD5 hashes nothing for it (a
// parallel body with nothing else to hash has no hasher at all), still computes its other
// checksums, and still checks a declared Content-MD5.
func TestSkipMD5LeavesMD5ZeroUnlessDeclared(t *testing.T) {
	twoProcs(t)
	data := randomBytes(3 << 20)
	sum := md5.Sum(data)
	h, _ := sigv4.NewChecksum("CRC32C")
	h.Write(data)
	crc := sigv4.EncodeChecksum(h)
	wrong := md5.Sum(data[1:])
	cases := []struct {
		name    string
		opts    BodyOptions
		wantMD5 [16]byte
		wantErr bool
	}{
		{"no MD5", BodyOptions{SkipMD5: true}, [16]byte{}, false},
		{"other checksums still computed", BodyOptions{SkipMD5: true, Compute: []string{"CRC32C"}}, [16]byte{}, false},
		{"declared MD5 still checked", BodyOptions{SkipMD5: true, ContentMD5: sum[:]}, sum, false},
		{"wrong declared MD5 still refused", BodyOptions{SkipMD5: true, ContentMD5: wrong[:]}, [16]byte{}, true},
	}
	for _, c := range cases {
		for _, parallel := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/parallel=%v", c.name, parallel), func(t *testing.T) {
				opts := c.opts
				opts.Size = int64(len(data))
				body := NewBody(bytes.NewReader(data), opts)
				if parallel {
					body = newParallelBody(t.Context(), bytes.NewReader(data), opts, nil)
					if hashes := opts.ContentMD5 != nil || len(opts.Compute) > 0; (body.pipe != nil) != hashes {
						t.Fatalf("hasher goroutine = %v, want %v", body.pipe != nil, hashes)
					}
				}
				_, err := io.Copy(io.Discard, body)
				var digestErr *DigestError
				if c.wantErr != errors.As(err, &digestErr) || (!c.wantErr && err != nil) {
					t.Fatalf("read: %v, want a digest error: %v", err, c.wantErr)
				}
				if c.wantErr {
					return
				}
				if got := body.Sums(); got.MD5 != c.wantMD5 || (len(opts.Compute) > 0 && got.Checksums["CRC32C"] != crc) {
					t.Fatalf("sums %x %v, want MD5 %x and CRC32C %s when asked", got.MD5, got.Checksums, c.wantMD5, crc)
				}
			})
		}
	}
}
