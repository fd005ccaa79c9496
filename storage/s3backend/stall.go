package s3backend

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// stalledError is the failure of a call to the service whose body stopped moving: the service
// sent no byte of an answer, or took no byte of a request, for the stall timeout. It is a
// net.Error that times out, so that the call is retried where it can be and otherwise answered
// 503 (markUnavailable).
type stalledError struct{ idle time.Duration }

func (e stalledError) Error() string {
	return fmt.Sprintf("s3backend: the service moved no byte of a body for %s", e.idle)
}
func (stalledError) Timeout() bool   { return true }
func (stalledError) Temporary() bool { return true }

var _ net.Error = stalledError{}

// stallGuard bounds the bodies of the calls it carries, where ResponseHeaderTimeout bounds only
// the wait for an answer's head: a request body the service stops reading, or an answer body it
// stops sending, for idle cancels the call, which closes its connection. Time spent waiting for
// the node's own client (a slow uploader) is not counted: only time the service holds the body.
type stallGuard struct {
	next http.RoundTripper
	idle time.Duration
}

func (g stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	w := newWatchdog(g.idle, cancel)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &sendBody{ReadCloser: req.Body, w: w}
	}
	resp, err := g.next.RoundTrip(req)
	w.sent()
	if err != nil {
		cancel()
		if w.fired.Load() {
			return nil, stalledError{g.idle}
		}
		return nil, err
	}
	resp.Body = &receiveBody{ReadCloser: resp.Body, w: w, cancel: cancel}
	return resp, nil
}

// watchdog cancels a call when it is armed for longer than idle.
type watchdog struct {
	idle  time.Duration
	timer *time.Timer
	fired atomic.Bool

	mu   sync.Mutex
	done bool // the request is sent: its body no longer arms the watchdog
}

func newWatchdog(idle time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{idle: idle}
	w.timer = time.AfterFunc(time.Hour, func() {
		w.fired.Store(true)
		cancel()
	})
	w.timer.Stop()
	return w
}

func (w *watchdog) arm()    { w.timer.Reset(w.idle) }
func (w *watchdog) disarm() { w.timer.Stop() }

// sending arms (or disarms) the watchdog for the request's body, until the request is sent.
func (w *watchdog) sending(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.done:
	case on:
		w.arm()
	default:
		w.disarm()
	}
}

// sent ends the request's part: the transport may still read its body after the answer came
// (an early answer), which must no longer touch the watchdog, now the answer body's.
func (w *watchdog) sent() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	w.disarm()
}

// sendBody is a request body: the watchdog runs from the moment the transport has a piece to
// send until it asks for the next, the time the service takes to accept the piece.
type sendBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *sendBody) Read(p []byte) (int, error) {
	b.w.sending(false)
	n, err := b.ReadCloser.Read(p)
	if err == nil {
		b.w.sending(true)
	}
	return n, err
}

// receiveBody is an answer body: the watchdog runs while a read waits for the service.
type receiveBody struct {
	io.ReadCloser
	w      *watchdog
	cancel context.CancelFunc
}

func (b *receiveBody) Read(p []byte) (int, error) {
	b.w.arm()
	n, err := b.ReadCloser.Read(p)
	b.w.disarm()
	if err != nil && b.w.fired.Load() {
		return n, stalledError{b.w.idle}
	}
	return n, err
}

func (b *receiveBody) Close() error {
	b.w.disarm()
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// canWatchSplice reports whether watchSplice can watch conn: only then may a download splice.
func canWatchSplice(conn *net.TCPConn) bool {
	_, _, err := socketProgress(conn)
	return err == nil
}

// watchSplice watches conn while a splice moves the last owed bytes of an answer body from it
// straight to the node's client, bypassing receiveBody. The kernel's counters tell the service
// that stopped sending from the client that stopped taking: the service is stalled when, for
// idle, it sent nothing although bytes were still owed and none waited unread on the socket.
// It then cuts the splice with an expired read deadline. stop ends the watch and reports
// whether it cut.
func watchSplice(conn *net.TCPConn, owed int64, idle time.Duration) (stop func() bool) {
	start, queued, err := socketProgress(conn)
	if err != nil {
		// canWatchSplice said it could; a connection closed since fails the splice anyway.
		start, queued = 0, 0
	}
	owed -= int64(queued)
	done := make(chan struct{})
	var cut atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(max(idle/8, 10*time.Millisecond))
		defer tick.Stop()
		last, since := start, time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				got, queued, err := socketProgress(conn)
				if err != nil || got != last || queued > 0 || int64(got-start) >= owed {
					last, since = got, now
					continue
				}
				if now.Sub(since) >= idle {
					cut.Store(true)
					conn.SetReadDeadline(now)
					return
				}
			}
		}
	})
	return func() bool {
		close(done)
		wg.Wait()
		return cut.Load()
	}
}
