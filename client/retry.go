package client

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RetryPolicy bounds retries: at most Attempts tries of one step, waiting between them a
// random time in [d/2, d] where d = BaseDelay·2^retry, capped at MaxDelay (exponential backoff
// with jitter, so that parallel parts that failed together do not retry together).
type RetryPolicy struct {
	Attempts  int           // 0 means 10
	BaseDelay time.Duration // 0 means 250 ms
	MaxDelay  time.Duration // 0 means 20 s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 10
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 20 * time.Second
	}
	return p
}

// delay is the wait before retry number retry+1 (0-based): the backoff with jitter, or the
// server's hint when it asked for longer (but never more than MaxDelay).
func (p RetryPolicy) delay(retry int, hint time.Duration) time.Duration {
	d := p.MaxDelay
	if retry < 30 {
		d = min(p.BaseDelay<<retry, p.MaxDelay)
	}
	d = d/2 + rand.N(d/2+1)
	if hint > d {
		d = min(hint, p.MaxDelay)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errStalled is the cause of an attempt abandoned because no byte moved for StallTimeout.
var errStalled = errors.New("transfer stalled: no progress within the stall timeout")

// localError is a failure on this side (reading the file being uploaded, writing the one being
// downloaded): trying the network again does not help.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// transient reports whether err is a network failure worth another attempt: a reset, refused
// or timed-out connection, a body cut short, a stalled transfer. Refusals, local I/O errors
// and cancellations are not.
func transient(err error) bool {
	var le *localError
	var se *StorageError
	var ae *APIError
	switch {
	case err == nil, errors.As(err, &le), errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &se):
		return se.Status >= 500 && se.Status != 501
	case errors.As(err, &ae):
		return ae.Status >= 500 && ae.Status != 501
	case errors.Is(err, errStalled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || isTransportError(err)
}

// isTransportError recognises the HTTP client's own errors about a connection it lost
// (net/http does not export their types).
func isTransportError(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := e.(interface{ Timeout() bool }); ok {
			return true
		}
	}
	msg := err.Error()
	for _, s := range []string{"connection reset", "broken pipe", "transport connection broken", "server closed", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// watchdog cancels an attempt when Touch has not been called for the stall timeout.
type watchdog struct {
	mu    sync.Mutex
	timer *time.Timer
	d     time.Duration
	last  time.Time
}

// newWatchdog returns a context derived from ctx that is cancelled with errStalled when the
// watchdog is not touched for d, and the watchdog. Stop releases it.
func newWatchdog(ctx context.Context, d time.Duration) (context.Context, *watchdog, context.CancelCauseFunc) {
	actx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{d: d, last: time.Now()}
	w.timer = time.AfterFunc(d, func() { w.fire(cancel) })
	return actx, w, cancel
}

// fire cancels the attempt unless it was touched since the timer was set; touches only record
// the time, so the hot path never resets a timer.
func (w *watchdog) fire(cancel context.CancelCauseFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		return
	}
	if idle := time.Since(w.last); idle < w.d {
		w.timer.Reset(w.d - idle)
		return
	}
	cancel(errStalled)
}

// Touch records progress.
func (w *watchdog) Touch() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

// Stop ends the watch (e.g. once the body is sent and the server is working on it).
func (w *watchdog) Stop() {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
}
