package s3backend

import (
	"context"
	"io"
	"sync"

	"golang.org/x/sync/semaphore"
)

// bufferPool lends the part-sized buffers of PUTs. A buffer is only ever needed for a body
// that is read whole before it is sent (a small body, or a part of a body of unknown length);
// the pool caps the bytes lent at once, so that many such uploads at once wait for memory
// rather than exhaust it.
type bufferPool struct {
	size   int
	budget *semaphore.Weighted
	pool   sync.Pool
}

// maxBufferedPuts is how many part-sized buffers may be lent at once.
const maxBufferedPuts = 8

func newBufferPool(size int) *bufferPool {
	p := &bufferPool{size: size, budget: semaphore.NewWeighted(int64(size) * maxBufferedPuts)}
	p.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

// get lends a buffer of n bytes (at most the part size), waiting for memory if need be.
func (p *bufferPool) get(ctx context.Context, n int) (*[]byte, error) {
	if err := p.budget.Acquire(ctx, int64(n)); err != nil {
		return nil, err
	}
	if n < p.size/4 {
		b := make([]byte, n)
		return &b, nil
	}
	b := p.pool.Get().(*[]byte)
	*b = (*b)[:n]
	return b, nil
}

// put returns a buffer lent by get.
func (p *bufferPool) put(b *[]byte) {
	n := len(*b)
	if cap(*b) == p.size {
		*b = (*b)[:p.size]
		p.pool.Put(b)
	}
	p.budget.Release(int64(n))
}

// atEOF reads r to its end, expecting no more bytes: r is a Body whose declared length has
// been read, and only its io.EOF says that its checks passed.
func atEOF(r io.Reader) error {
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if err == io.EOF && n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return errLongerThanDeclared
		}
	}
}
