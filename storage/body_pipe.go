package storage

import (
	"context"
	"crypto/md5"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	md5simd "github.com/minio/md5-simd"
)

// This file is the hashing pipe of a CheckedBody (newParallelBody); body.go holds the checks.

// newParallelBody is NewBody with the hashing done by a second goroutine, so that MD5 (the
// slowest step of a large upload, about 0.9 GB/s on one core) runs beside the network reads and
// disk writes instead of between them. The bytes pass to the hasher in a few bounded buffers;
// memory stays constant whatever the body's size. The hasher stops when the body ends or ctx
// does, so an abandoned body leaks nothing past its request. bufs, when not nil, lends the
// buffers so that a busy server reuses them; they go back once the body has ended or failed.
func newParallelBody(ctx context.Context, r io.Reader, opts BodyOptions, bufs *hashBuffers) *CheckedBody {
	return newParallelBodyDeep(ctx, r, opts, bufs, opts.Size >= deepBodyMin)
}

// newParallelBodyDeep is newParallelBody with a deep pipeline asked for by long rather than by
// the declared size.
func newParallelBodyDeep(ctx context.Context, r io.Reader, opts BodyOptions, bufs *hashBuffers, long bool) *CheckedBody {
	b := NewBody(r, opts)
	procs := runtime.GOMAXPROCS(0)
	// A body with nothing to hash is only counted, which needs no second goroutine.
	if b.err != nil || procs < 2 || (b.md5 == nil && len(b.sums) == 0) {
		return b
	}
	// A second goroutine helps while a core is idle; when many bodies arrive at once the cores
	// are busy anyway, and hashing in line saves the buffers.
	if bufs != nil && !acquire(&bufs.pipes, maxPipesPerProc*procs) {
		return b
	}
	hs := make([]hash.Hash, 0, 1+len(b.sums))
	if b.md5 != nil {
		hs = append(hs, b.md5)
	}
	for _, s := range b.sums {
		hs = append(hs, s.h)
	}
	// With more bodies hashing than cores, the cores are short and MD5 costs the most of
	// them: the body's MD5 becomes a lane of the multi-buffer hasher, which hashes up to 16
	// streams at once in the vector unit for about a quarter of the CPU per byte. One body
	// alone keeps the plain MD5, which is faster for a single stream.
	var lane md5simd.Hasher
	if bufs != nil && b.md5 != nil && bufs.pipes.Load() > int32(procs) {
		if lane = bufs.lane(); lane != nil {
			hs[0] = lane
		}
	}
	b.pipe = newHashPipe(ctx, hs, bufs, long, lane)
	return b
}

// WriteTo implements io.WriterTo. With hashing beside the reads it fills the hasher's own
// buffers from the body and writes each to w from there, so the bytes are not copied once more
// for the hasher, and the hasher and the writer meet once a full buffer rather than at every
// network read. It returns nil only when the whole body arrived and every check passed; an
// error of w is returned as it is.
func (b *CheckedBody) WriteTo(w io.Writer) (int64, error) {
	if b.pipe == nil {
		return io.Copy(w, struct{ io.Reader }{b})
	}
	switch b.err {
	case nil:
	case io.EOF:
		return 0, nil
	default:
		return 0, b.err
	}
	var written int64
	for {
		slot, err := b.pipe.take()
		if err != nil {
			return written, b.fail(err)
		}
		n, rerr := Fill(b.r, slot)
		if lim := b.limit(); lim >= 0 && b.n+int64(n) > lim {
			b.pipe.give(slot)
			return written, b.fail(ErrEntityTooLarge)
		}
		if n == 0 {
			b.pipe.give(slot)
		} else {
			b.n += int64(n)
			// The hasher only reads the buffer and hands it back when done; it is taken
			// again only after Write has returned.
			b.pipe.work <- slot[:n]
			m, werr := w.Write(slot[:n])
			written += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return written, b.fail(werr)
			}
		}
		switch {
		case rerr == io.EOF:
			return written, b.ended()
		case rerr != nil:
			return written, b.fail(rerr)
		}
	}
}

const (
	pipeSlots    = 3
	pipeSlotSize = 128 << 10
	// A long body gets a deeper pipeline: a hasher that the scheduler set aside for a moment
	// has 2 MiB of slack before the reader waits. With client and server on two cores, a 2 GiB
	// PUT measured about 15 % faster with 16 slots than with 3. (Larger slots did not help: the
	// cost of a write into the page cache is per byte, not per call.)
	deepSlots = 16
	// maxPipesPerProc bounds the bodies of a server that hash in parallel, per core.
	maxPipesPerProc = 4
	// deepBodyMin is the declared size from which a body may get a deep pipeline.
	deepBodyMin = 256 << 20
	// maxDeepBodies bounds how many bodies of a server have a deep pipeline at once, and so
	// their memory (8 MiB); the others get the small one.
	maxDeepBodies = 4
)

// hashBuffers lends the hand-off buffers of parallel hashing (newParallelBody) so that a busy
// server reuses them, bounds how many bodies hash in parallel and how many of those have a
// deep pipeline, and keeps the multi-buffer MD5 hasher that busy moments share. The zero value
// is ready; Close releases the hasher.
type hashBuffers struct {
	pool      sync.Pool
	pipes     atomic.Int32 // bodies hashing in parallel
	deepPipes atomic.Int32 // of those, the ones with a deep pipeline

	mu     sync.Mutex
	simd   md5simd.Server // started at the first lane
	lanes  int            // lanes in use
	closed bool
}

// maxLanes is how many bodies share the multi-buffer hasher at once: its vector unit hashes
// 16 streams side by side (8 without AVX-512), and its one goroutine is one core; bodies beyond
// that hash with the plain MD5 on the other cores.
const maxLanes = 16

// lane returns an MD5 lane of the multi-buffer hasher, or nil when all are taken or the
// buffers are closed.
func (hb *hashBuffers) lane() md5simd.Hasher {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.closed || hb.lanes >= maxLanes {
		return nil
	}
	if hb.simd == nil {
		hb.simd = md5simd.NewServer()
	}
	hb.lanes++
	return hb.simd.NewHash()
}

// dropLane ends a lane given by lane, and the hasher with the last one after Close.
func (hb *hashBuffers) dropLane(h md5simd.Hasher) {
	h.Close()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.lanes--
	if hb.closed && hb.lanes == 0 && hb.simd != nil {
		hb.simd.Close()
		hb.simd = nil
	}
}

// Close stops the multi-buffer hasher once the bodies that use it have ended; bodies opened
// afterwards hash with the plain MD5.
func (hb *hashBuffers) Close() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.closed = true
	if hb.lanes == 0 && hb.simd != nil {
		hb.simd.Close()
		hb.simd = nil
	}
}

// acquire counts one more user of a budget of limit, if there is room.
func acquire(n *atomic.Int32, limit int) bool {
	if n.Add(1) <= int32(limit) {
		return true
	}
	n.Add(-1)
	return false
}

// hashPipe feeds a body's bytes to a goroutine that hashes them.
type hashPipe struct {
	ctx      context.Context
	work     chan []byte // filled slots, in order
	free     chan []byte // empty slots
	done     chan struct{}
	hashed   int64 // bytes hashed; written by the hasher, read after done
	closed   bool
	bufs     *hashBuffers // where the buffers came from and the pipeline is counted, or nil
	deep     bool         // counted in bufs as a deep pipeline
	released bool
	// lane, when not nil, is the body's MD5 (also in the hashes given to run): a lane of
	// bufs' multi-buffer hasher, which the hasher goroutine sums into laneSum and gives back
	// when it stops, so that an abandoned body does not keep it.
	lane    md5simd.Hasher
	laneSum [md5.Size]byte
}

func newHashPipe(ctx context.Context, hs []hash.Hash, bufs *hashBuffers, long bool, lane md5simd.Hasher) *hashPipe {
	slots := pipeSlots
	if long && (bufs == nil || acquire(&bufs.deepPipes, maxDeepBodies)) {
		slots = deepSlots
	}
	p := &hashPipe{ctx: ctx, work: make(chan []byte, slots), free: make(chan []byte, slots), done: make(chan struct{}),
		bufs: bufs, deep: bufs != nil && slots == deepSlots, lane: lane}
	for range slots {
		var buf []byte
		if bufs != nil {
			if bp, ok := bufs.pool.Get().(*[]byte); ok && cap(*bp) >= pipeSlotSize {
				buf = (*bp)[:pipeSlotSize]
			}
		}
		if buf == nil {
			buf = make([]byte, pipeSlotSize)
		}
		p.free <- buf
	}
	go p.run(hs)
	return p
}

// release gives the buffers back to their pool. Only the reading goroutine calls it, after
// the hasher is done, when neither uses a buffer any more.
func (p *hashPipe) release() {
	if p.released || p.bufs == nil {
		return
	}
	p.released = true
drain:
	for {
		select {
		case buf := <-p.free:
			p.bufs.pool.Put(&buf)
		case buf, ok := <-p.work:
			if !ok {
				break drain
			}
			buf = buf[:cap(buf)]
			p.bufs.pool.Put(&buf)
		default:
			break drain
		}
	}
}

// run hashes until the body ends or its request does. The budgets of bufs are given back
// here rather than by the reader, which may abandon the body without another call.
func (p *hashPipe) run(hs []hash.Hash) {
	ended := false // every byte handed over was hashed; the body's end is judged by the reader
	defer func() {
		if p.lane != nil {
			if ended {
				p.lane.Sum(p.laneSum[:0])
			}
			p.bufs.dropLane(p.lane)
		}
		if p.bufs != nil {
			p.bufs.pipes.Add(-1)
			if p.deep {
				p.bufs.deepPipes.Add(-1)
			}
		}
		close(p.done)
	}()
	for {
		select {
		case buf, ok := <-p.work:
			if !ok {
				ended = true
				return
			}
			for _, h := range hs {
				h.Write(buf)
			}
			p.hashed += int64(len(buf))
			p.free <- buf[:cap(buf)]
		case <-p.ctx.Done():
			return
		}
	}
}

// take returns an empty slot, waiting for the hasher to free one.
func (p *hashPipe) take() ([]byte, error) {
	select {
	case slot := <-p.free:
		return slot, nil
	case <-p.done:
		return nil, fmt.Errorf("storage: body abandoned: %w", context.Cause(p.ctx))
	}
}

// give returns a slot taken and not handed to the hasher.
func (p *hashPipe) give(slot []byte) { p.free <- slot[:cap(slot)] }

// hash hands a copy of b (at most one slot) to the hasher, waiting for a free slot.
func (p *hashPipe) hash(b []byte) error {
	slot, err := p.take()
	if err != nil {
		return err
	}
	n := copy(slot, b)
	p.work <- slot[:n]
	return nil
}

// stop ends the hasher once it has taken what was handed to it.
func (p *hashPipe) stop() {
	if !p.closed {
		p.closed = true
		close(p.work)
	}
}

// wait stops the hasher and waits until it has hashed n bytes in all.
func (p *hashPipe) wait(n int64) error {
	p.stop()
	<-p.done
	defer p.release()
	if p.hashed != n {
		return fmt.Errorf("storage: body abandoned: %w", context.Cause(p.ctx))
	}
	return nil
}
