package client

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Progress is a snapshot of one transfer.
type Progress struct {
	// Name is the file's name (the upload's name, or the downloaded file's).
	Name string
	// Done is the bytes the store has confirmed plus those in flight. It can go down: bytes of
	// an attempt that failed are taken back before the retry sends them again.
	Done int64
	// Total is the size of the file.
	Total int64
	// Resumed is the part of Done that an earlier, interrupted transfer had already moved.
	Resumed int64
}

// tracker adds up the bytes of a transfer's concurrent attempts and reports them, one call at
// a time, to the caller's callback.
type tracker struct {
	mu         sync.Mutex
	p          Progress
	fn         func(Progress)
	lastReport int64
}

func newTracker(name string, total int64, fn func(Progress)) *tracker {
	return &tracker{p: Progress{Name: name, Total: total}, fn: fn, lastReport: -1}
}

// add moves Done by n (negative to take back a failed attempt's bytes) and reports.
func (t *tracker) add(n int64) {
	t.mu.Lock()
	t.p.Done += n
	t.report()
	t.mu.Unlock()
}

// resumed counts n bytes found already transferred.
func (t *tracker) resumed(n int64) {
	t.mu.Lock()
	t.p.Done += n
	t.p.Resumed += n
	t.report()
	t.mu.Unlock()
}

// report calls the callback; t.mu is held, so calls never overlap. Repeated identical
// snapshots are skipped.
func (t *tracker) report() {
	if t.fn == nil || t.p.Done == t.lastReport {
		return
	}
	t.lastReport = t.p.Done
	t.fn(t.p)
}

// start reports the initial snapshot, so a caller sees the transfer begin even before a byte
// moves.
func (t *tracker) start() {
	t.mu.Lock()
	t.report()
	t.mu.Unlock()
}

// countingReader counts the bytes of one attempt into the tracker and touches the watchdog.
// The transport may still read the body after Do has returned (it closes and drains it in
// its own goroutine), so Read and takeBack lock, and an attempt taken back reads no more.
type countingReader struct {
	r     io.Reader
	t     *tracker
	w     *watchdog
	total int64

	mu   sync.Mutex
	n    int64
	over bool
}

// errAttemptOver ends the transport's reads of an attempt whose bytes were taken back.
var errAttemptOver = errors.New("client: the attempt is over")

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return 0, errAttemptOver
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.t.add(int64(n))
		c.w.Touch()
	}
	switch {
	case err == io.EOF && c.n < c.total:
		return n, &localError{fmt.Errorf("the file ended %d bytes early: %w", c.total-c.n, io.ErrUnexpectedEOF)}
	case err == io.EOF:
		// The body is sent; the server's answer is bounded by the transport's header timeout.
		c.w.Stop()
	case err != nil:
		return n, &localError{err}
	}
	return n, err
}

// takeBack removes the bytes of a failed attempt from the progress.
func (c *countingReader) takeBack() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.over = true
	if c.n > 0 {
		c.t.add(-c.n)
		c.n = 0
	}
}
