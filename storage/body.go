package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	md5simd "github.com/minio/md5-simd"

	"presign/sigv4"
)

// Errors a checked Body reports instead of io.EOF. The HTTP face maps each to its S3 code.
var (
	// ErrIncompleteBody: the body ended before its declared size.
	ErrIncompleteBody = errors.New("storage: body shorter than declared")
	// ErrEntityTooLarge: the body is longer than allowed.
	ErrEntityTooLarge = errors.New("storage: body larger than allowed")
)

// DigestError reports a body whose digest differs from the one the client declared.
type DigestError struct {
	Algorithm string // "MD5" or a checksum algorithm
	Expected  string // base64, as declared
	Computed  string // base64
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("storage: %s of the body is %s, not the declared %s", e.Algorithm, e.Computed, e.Expected)
}

// BodyOptions say what a checked body must satisfy.
type BodyOptions struct {
	// Size is the declared length, or -1 when unknown. A body that ends early fails with
	// ErrIncompleteBody; one that goes on past Size fails with ErrEntityTooLarge.
	Size int64
	// MaxBytes, when positive, fails a body longer than it with ErrEntityTooLarge as soon as
	// the excess byte arrives.
	MaxBytes int64
	// ContentMD5 is the declared MD5 (raw bytes), or nil.
	ContentMD5 []byte
	// Expect maps a checksum algorithm to the base64 value the body must have.
	Expect map[string]string
	// Compute lists further checksum algorithms to compute and store.
	Compute []string
	// SkipMD5 leaves Sums.MD5 zero, for a backend that takes its ETags from elsewhere
	// (SelectiveMD5): MD5 is the dearest hash of all, and no cheaper for one stream on any core.
	// It has no effect with ContentMD5, which is always checked.
	SkipMD5 bool
}

type namedHash struct {
	name   string
	h      hash.Hash
	expect string
}

// CheckedBody is a Body that counts, hashes and checks the bytes of an io.Reader as they pass.
type CheckedBody struct {
	r      io.Reader
	opts   BodyOptions
	md5    hash.Hash
	sums   []namedHash
	n      int64
	err    error // sticky
	result Sums
	pipe   *hashPipe // when hashing runs beside the reads (NewParallelBody)
}

// NewBody wraps r so that it yields io.EOF only when every check in opts has passed.
// An unknown algorithm name in opts is reported by the first Read.
func NewBody(r io.Reader, opts BodyOptions) *CheckedBody {
	b := &CheckedBody{r: r, opts: opts}
	if !opts.SkipMD5 || opts.ContentMD5 != nil {
		b.md5 = md5.New()
	}
	add := func(alg, expect string) {
		for i := range b.sums {
			if b.sums[i].name == alg {
				if expect != "" {
					b.sums[i].expect = expect
				}
				return
			}
		}
		h, ok := sigv4.NewChecksum(alg)
		if !ok {
			b.err = fmt.Errorf("storage: unknown checksum algorithm %q", alg)
			return
		}
		b.sums = append(b.sums, namedHash{name: alg, h: h, expect: expect})
	}
	for alg, v := range opts.Expect {
		add(alg, v)
	}
	for _, alg := range opts.Compute {
		add(alg, "")
	}
	return b
}

// NewParallelBody is NewBody with the hashing done by a second goroutine, so that MD5 (the
// slowest step of a large upload, about 0.9 GB/s on one core) runs beside the network reads and
// disk writes instead of between them. The bytes pass to the hasher in a few bounded buffers;
// memory stays constant whatever the body's size. The hasher stops when the body ends or ctx
// does, so an abandoned body leaks nothing past its request. bufs, when not nil, lends the
// buffers so that a busy server reuses them; they go back once the body has ended or failed.
func NewParallelBody(ctx context.Context, r io.Reader, opts BodyOptions, bufs *HashBuffers) *CheckedBody {
	return newParallelBody(ctx, r, opts, bufs, opts.Size >= deepBodyMin)
}

// newParallelBody is NewParallelBody with a deep pipeline asked for by long rather than by the
// declared size.
func newParallelBody(ctx context.Context, r io.Reader, opts BodyOptions, bufs *HashBuffers, long bool) *CheckedBody {
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

// ChecksumAlgorithms implements ChecksumPlanner.
func (b *CheckedBody) ChecksumAlgorithms() []string {
	algs := make([]string, 0, len(b.sums))
	for _, s := range b.sums {
		algs = append(algs, s.name)
	}
	return algs
}

// Size implements Body.
func (b *CheckedBody) Size() int64 { return b.opts.Size }

// Sums implements Body.
func (b *CheckedBody) Sums() Sums { return b.result }

// Read implements io.Reader.
func (b *CheckedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.pipe != nil && len(p) > pipeSlotSize {
		p = p[:pipeSlotSize]
	}
	n, err := b.r.Read(p)
	if n > 0 {
		if lim := b.limit(); lim >= 0 && b.n+int64(n) > lim {
			return 0, b.fail(ErrEntityTooLarge)
		}
		b.n += int64(n)
		if b.pipe != nil {
			if perr := b.pipe.hash(p[:n]); perr != nil {
				return 0, b.fail(perr)
			}
		} else {
			if b.md5 != nil {
				b.md5.Write(p[:n])
			}
			for i := range b.sums {
				b.sums[i].h.Write(p[:n])
			}
		}
	}
	switch {
	case err == io.EOF:
		if eerr := b.ended(); eerr != nil {
			return n, eerr
		}
	case err != nil:
		b.fail(err)
	}
	return n, err
}

// ended judges a body that reached its end: the hasher has hashed every byte, and the length
// and digests are as declared. The verdict is sticky, io.EOF when every check passed.
func (b *CheckedBody) ended() error {
	if b.pipe != nil {
		if err := b.pipe.wait(b.n); err != nil {
			return b.fail(err)
		}
	}
	if err := b.finish(); err != nil {
		b.err = err
		return err
	}
	b.err = io.EOF
	return nil
}

// fail makes err sticky and stops the hasher.
func (b *CheckedBody) fail(err error) error {
	b.err = err
	if b.pipe != nil {
		b.pipe.stop()
		<-b.pipe.done
		b.pipe.release()
	}
	return err
}

// limit is the largest acceptable length, or -1 for none.
func (b *CheckedBody) limit() int64 {
	lim := int64(-1)
	if b.opts.Size >= 0 {
		lim = b.opts.Size
	}
	if b.opts.MaxBytes > 0 && (lim < 0 || b.opts.MaxBytes < lim) {
		lim = b.opts.MaxBytes
	}
	return lim
}

func (b *CheckedBody) finish() error {
	if b.opts.Size >= 0 && b.n < b.opts.Size {
		return ErrIncompleteBody
	}
	switch {
	case b.pipe != nil && b.pipe.lane != nil:
		b.result.MD5 = b.pipe.laneSum
	case b.md5 != nil:
		b.md5.Sum(b.result.MD5[:0])
	}
	if b.opts.ContentMD5 != nil && !bytes.Equal(b.opts.ContentMD5, b.result.MD5[:]) {
		return &DigestError{
			Algorithm: "MD5",
			Expected:  base64.StdEncoding.EncodeToString(b.opts.ContentMD5),
			Computed:  base64.StdEncoding.EncodeToString(b.result.MD5[:]),
		}
	}
	if len(b.sums) > 0 {
		b.result.Checksums = make(map[string]string, len(b.sums))
	}
	for _, s := range b.sums {
		v := sigv4.EncodeChecksum(s.h)
		if s.expect != "" && s.expect != v {
			return &DigestError{Algorithm: s.name, Expected: s.expect, Computed: v}
		}
		b.result.Checksums[s.name] = v
	}
	return nil
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

// Fill reads r into p until p is full, r ends or r fails; err is nil exactly when p is full
// (and the end may not have been seen yet), else r's error, io.EOF included. Unlike
// io.ReadFull it keeps io.EOF, which the body writers use to tell a body that ended exactly at
// a buffer's end.
func Fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
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

// HashBuffers lends the hand-off buffers of parallel hashing (NewParallelBody) so that a busy
// server reuses them, bounds how many bodies hash in parallel and how many of those have a
// deep pipeline, and keeps the multi-buffer MD5 hasher that busy moments share. The zero value
// is ready; Close releases the hasher.
type HashBuffers struct {
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
func (hb *HashBuffers) lane() md5simd.Hasher {
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
func (hb *HashBuffers) dropLane(h md5simd.Hasher) {
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
func (hb *HashBuffers) Close() {
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
	bufs     *HashBuffers // where the buffers came from and the pipeline is counted, or nil
	deep     bool         // counted in bufs as a deep pipeline
	released bool
	// lane, when not nil, is the body's MD5 (also in the hashes given to run): a lane of
	// bufs' multi-buffer hasher, which the hasher goroutine sums into laneSum and gives back
	// when it stops, so that an abandoned body does not keep it.
	lane    md5simd.Hasher
	laneSum [md5.Size]byte
}

func newHashPipe(ctx context.Context, hs []hash.Hash, bufs *HashBuffers, long bool, lane md5simd.Hasher) *hashPipe {
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
