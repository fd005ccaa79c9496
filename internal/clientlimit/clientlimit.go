// Package clientlimit bounds what one client can hold of a server: how long a small request body
// may take, how slowly a body or a download may move, and how many connections one address may
// keep open. Both planes use it, so that a client dripping a byte every few seconds, or a
// download that is never read, ends after a bounded time instead of holding a connection, a
// goroutine and file descriptors for as long as it likes.
//
// Start with Body (request bodies), Writer (downloads) and Listener (connections per address).
// Their errors are ErrTimeout (the client was too slow) and ErrAborted (it went away); both are
// the client's doing, which servers answer without logging an error.
package clientlimit

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

var (
	// ErrTimeout reports a client that sent or read too slowly: a body past its total
	// deadline, idle too long, or below the minimum rate.
	ErrTimeout = errors.New("clientlimit: the client was too slow")
	// ErrAborted reports a client that closed or broke its connection before its request body
	// ended (a cut-short body, a reset).
	ErrAborted = errors.New("clientlimit: the client went away")
)

// Rate is a minimum transfer rate: at least BytesPerSecond, measured over each Window of the
// time spent waiting for the client. A zero Rate sets no minimum.
//
// Only the time the server waits on the client counts: while the server itself is busy (a slow
// disk, a lock) the window stands still, so a busy server never cuts off a good client.
type Rate struct {
	BytesPerSecond int64
	Window         time.Duration
}

func (r Rate) on() bool { return r.BytesPerSecond > 0 && r.Window > 0 }

// quota is the bytes one window must carry.
func (r Rate) quota() int64 { return max(1, int64(r.Window.Seconds()*float64(r.BytesPerSecond))) }

// meter applies a Rate to one direction of a transfer. Its clock is the time spent inside
// transfers (waiting on the client), cut into windows of Rate.Window; each window must carry
// the quota, and the window after a full one may be spent waiting.
type meter struct {
	rate   Rate
	spent  time.Duration // waiting on the client so far
	winEnd time.Duration // when the current window ends, on the same clock
	n      int64         // bytes of the current window
}

func newMeter(r Rate) meter { return meter{rate: r, winEnd: r.Window} }

// allowance is how much longer the next transfer may wait; ok is false without a minimum.
func (m *meter) allowance() (time.Duration, bool) {
	if !m.rate.on() {
		return 0, false
	}
	d := m.winEnd - m.spent
	if m.n >= m.rate.quota() {
		d += m.rate.Window
	}
	return d, true
}

// moved records a transfer of n bytes that waited d; it fails when a window ended short.
func (m *meter) moved(d time.Duration, n int) error {
	if !m.rate.on() {
		return nil
	}
	// The bytes count in the window the transfer started in: a transfer cut by the deadline
	// at the window's end moved them all within it.
	m.spent += d
	m.n += int64(n)
	for m.spent >= m.winEnd {
		if m.n < m.rate.quota() {
			return ErrTimeout
		}
		m.n, m.winEnd = 0, m.winEnd+m.rate.Window
	}
	return nil
}

// earliest is the earlier of two deadlines, a zero one being none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// classify turns a transfer's error into ErrTimeout or ErrAborted, keeping the cause.
func classify(err error) error {
	switch {
	case err == nil, err == io.EOF, errors.Is(err, ErrTimeout), errors.Is(err, ErrAborted):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errors.Join(ErrTimeout, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.Join(ErrTimeout, err)
	}
	return errors.Join(ErrAborted, err)
}
