package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"io"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	md5simd "github.com/minio/md5-simd"
)

// busy makes bufs look as if as many bodies as cores were hashing already, so that the next
// parallel body is one too many and takes a lane of the multi-buffer hasher. It returns the
// undo.
func busy(bufs *hashBuffers) func() {
	procs := int32(runtime.GOMAXPROCS(0))
	bufs.pipes.Add(procs)
	return func() { bufs.pipes.Add(-procs) }
}

// TestBodiesOnLanesHashLikeSerial: bodies that hash on lanes of the multi-buffer hasher, many
// at once, of sizes around its 64-byte blocks and 32 KiB buffers, read or written through,
// get the MD5 of their bytes, and a wrong Content-MD5 is still caught.
func TestBodiesOnLanesHashLikeSerial(t *testing.T) {
	twoProcs(t)
	before := runtime.NumGoroutine()
	var bufs hashBuffers
	defer busy(&bufs)()
	sizes := []int{0, 1, 63, 64, 65, 32<<10 - 1, 32 << 10, 32<<10 + 1, 128 << 10, 1<<20 + 7, 3<<20 + 12345}
	// As many at once as the parallel-hashing bound leaves room for beside the busy cores.
	room := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, size := range sizes {
		for _, writeTo := range []bool{false, true} {
			wg.Go(func() {
				room <- struct{}{}
				defer func() { <-room }()
				data := randomBytes(size + i)
				sum := md5.Sum(data)
				opts := BodyOptions{Size: int64(len(data)), ContentMD5: sum[:], Compute: []string{"CRC32C"}}
				b := newParallelBodyDeep(context.Background(), iotest.HalfReader(bytes.NewReader(data)), opts, &bufs, false)
				if b.pipe == nil || b.pipe.lane == nil {
					t.Errorf("size %d: the body is not on a lane", len(data))
					return
				}
				var out bytes.Buffer
				var err error
				if writeTo {
					_, err = b.WriteTo(&out)
				} else {
					_, err = io.Copy(&out, struct{ io.Reader }{b})
				}
				if err != nil || !bytes.Equal(out.Bytes(), data) || b.Sums().MD5 != sum {
					t.Errorf("size %d (WriteTo %v): %v, MD5 %x, want %x", len(data), writeTo, err, b.Sums().MD5, sum)
				}
				wrong := BodyOptions{Size: int64(len(data)), ContentMD5: make([]byte, md5.Size)}
				bad := newParallelBodyDeep(context.Background(), bytes.NewReader(data), wrong, &bufs, false)
				if _, err := io.Copy(io.Discard, struct{ io.Reader }{bad}); err == nil {
					t.Errorf("size %d: a wrong Content-MD5 passed on a lane", len(data))
				}
			})
		}
	}
	wg.Wait()
	if n := lanesInUse(&bufs); n != 0 {
		t.Fatalf("%d lanes still in use after every body ended", n)
	}
	bufs.Close()
	waitGoroutines(t, before)
}

// TestOneBodyAloneKeepsPlainMD5: while no more bodies hash than there are cores, a body
// hashes with the plain MD5, which is faster for one stream, and starts no hasher.
func TestOneBodyAloneKeepsPlainMD5(t *testing.T) {
	twoProcs(t)
	var bufs hashBuffers
	data := randomBytes(1 << 20)
	b := newParallelBody(t.Context(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, &bufs)
	if b.pipe != nil && b.pipe.lane != nil {
		t.Fatal("a body alone took a lane")
	}
	if _, err := io.Copy(io.Discard, b); err != nil || b.Sums().MD5 != md5.Sum(data) {
		t.Fatalf("a body alone: %v, MD5 %x", err, b.Sums().MD5)
	}
	if bufs.simd != nil {
		t.Fatal("the multi-buffer hasher started for one body")
	}
}

// TestLanesAreBoundedAndGivenBack: at most maxLanes lanes are lent at once; a body that
// finds them all taken hashes with the plain MD5 and still gets the right sum; an abandoned
// body gives its lane back when its request ends.
func TestLanesAreBoundedAndGivenBack(t *testing.T) {
	twoProcs(t)
	var bufs hashBuffers
	defer bufs.Close()
	defer busy(&bufs)()
	var taken []md5simd.Hasher
	for i := range maxLanes {
		h := bufs.lane()
		if h == nil {
			t.Fatalf("lane %d of %d refused", i+1, maxLanes)
		}
		taken = append(taken, h)
	}
	if h := bufs.lane(); h != nil {
		t.Fatalf("lane %d lent", maxLanes+1)
	}
	data := randomBytes(1 << 20)
	extra := newParallelBodyDeep(t.Context(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, &bufs, false)
	if extra.pipe == nil || extra.pipe.lane != nil {
		t.Fatalf("a body with every lane taken: pipe %v, on a lane %v; want a pipe with the plain MD5", extra.pipe != nil, extra.pipe != nil && extra.pipe.lane != nil)
	}
	if _, err := io.Copy(io.Discard, extra); err != nil || extra.Sums().MD5 != md5.Sum(data) {
		t.Fatalf("body beyond the lanes: %v, MD5 %x", err, extra.Sums().MD5)
	}
	for _, h := range taken {
		bufs.dropLane(h)
	}

	ctx, cancel := context.WithCancel(t.Context())
	if b := newParallelBodyDeep(ctx, bytes.NewReader(randomBytes(1<<20)), BodyOptions{Size: 1 << 20}, &bufs, false); b.pipe == nil || b.pipe.lane == nil {
		t.Fatal("a body on a busy server is not on a lane")
	}
	if n := lanesInUse(&bufs); n != 1 {
		t.Fatalf("%d lanes in use, want 1", n)
	}
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for lanesInUse(&bufs) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := lanesInUse(&bufs); n != 0 {
		t.Fatalf("%d lanes still held by an abandoned body", n)
	}
}

// TestCloseWaitsForTheLastLane: Close while a body is on a lane lets that body finish with
// the right sum; the hasher stops after it, and later bodies hash with the plain MD5.
func TestCloseWaitsForTheLastLane(t *testing.T) {
	twoProcs(t)
	before := runtime.NumGoroutine()
	var bufs hashBuffers
	undo := busy(&bufs)
	data := randomBytes(2 << 20)
	b := newParallelBodyDeep(context.Background(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, &bufs, false)
	if b.pipe == nil || b.pipe.lane == nil {
		t.Fatal("the body is not on a lane")
	}
	half := make([]byte, 1<<20)
	if _, err := io.ReadFull(b, half); err != nil {
		t.Fatal(err)
	}
	bufs.Close()
	if _, err := io.Copy(io.Discard, b); err != nil || b.Sums().MD5 != md5.Sum(data) {
		t.Fatalf("body finished after Close: %v, MD5 %x", err, b.Sums().MD5)
	}
	later := newParallelBodyDeep(context.Background(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, &bufs, false)
	if later.pipe != nil && later.pipe.lane != nil {
		t.Fatal("a body opened after Close took a lane")
	}
	if _, err := io.Copy(io.Discard, later); err != nil || later.Sums().MD5 != md5.Sum(data) {
		t.Fatalf("body opened after Close: %v, MD5 %x", err, later.Sums().MD5)
	}
	undo()
	waitGoroutines(t, before)
}

func lanesInUse(bufs *hashBuffers) int {
	bufs.mu.Lock()
	defer bufs.mu.Unlock()
	return bufs.lanes
}

// BenchmarkBodies8 and BenchmarkBodies8Plain hash 8 bodies of 16 MiB at once (a multipart
// upload's parts in flight): with the server's hashBuffers, where the bodies beyond one per
// core take lanes of the multi-buffer hasher, and each with the plain MD5.
func BenchmarkBodies8(b *testing.B)      { benchBodies(b, 8, &hashBuffers{}) }
func BenchmarkBodies8Plain(b *testing.B) { benchBodies(b, 8, nil) }

// benchBodies: without hashBuffers nothing counts the bodies, and each keeps the plain MD5.
func benchBodies(b *testing.B, n int, bufs *hashBuffers) {
	if bufs != nil {
		defer bufs.Close()
	}
	data := randomBytes(16 << 20)
	b.SetBytes(int64(n * len(data)))
	for b.Loop() {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				body := newParallelBodyDeep(context.Background(), bytes.NewReader(data), BodyOptions{Size: int64(len(data))}, bufs, false)
				if _, err := body.WriteTo(io.Discard); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
