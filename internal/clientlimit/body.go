package clientlimit

import (
	"io"
	"net/http"
	"time"
)

// BodyLimits say how a request body must arrive.
type BodyLimits struct {
	// Total, when positive, is how long the whole body may take from the first read: the bound
	// of a small body (a JSON document, a form's fields), which no steady trickle can extend.
	Total time.Duration
	// Idle, when positive, is how long one read may wait for the client.
	Idle time.Duration
	// MinRate is the slowest a body may arrive, whatever its size.
	MinRate Rate
}

// Body is a request body whose reads end with ErrTimeout when the client is slower than its
// BodyLimits allow, and with ErrAborted when the client broke the body off. It sets the
// connection's read deadline before each read and clears it once the body has ended, so the
// server's own watch for a closed connection, which starts then, is never cut short.
type Body struct {
	r     io.ReadCloser
	rc    *http.ResponseController
	lim   BodyLimits
	until time.Time // the Total deadline, once the first read has set it
	m     meter
	ended bool
	now   func() time.Time
}

// NewBody wraps body, the body of a request answered through w. It reads nothing itself.
func NewBody(w http.ResponseWriter, body io.ReadCloser, lim BodyLimits) *Body {
	return &Body{r: body, rc: http.NewResponseController(w), lim: lim, m: newMeter(lim.MinRate), now: time.Now}
}

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	if b.ended {
		return b.r.Read(p)
	}
	start := b.now()
	if b.lim.Total > 0 && b.until.IsZero() {
		b.until = start.Add(b.lim.Total)
	}
	deadline := b.until
	if b.lim.Idle > 0 {
		deadline = earliest(deadline, start.Add(b.lim.Idle))
	}
	if d, ok := b.m.allowance(); ok {
		deadline = earliest(deadline, start.Add(d))
	}
	if !deadline.IsZero() && !deadline.After(start) {
		return 0, ErrTimeout
	}
	// An error means the connection takes no deadlines (HTTP/2 streams of old servers); the
	// server's own timeouts apply then.
	_ = b.rc.SetReadDeadline(deadline)
	n, err := b.r.Read(p)
	if merr := b.m.moved(b.now().Sub(start), n); merr != nil && err == nil {
		err = merr
	}
	switch {
	case err == io.EOF:
		b.end(time.Time{})
	case err != nil:
		// The connection is not to be read again: what net/http would read of the rest
		// of the body after the handler must fail at once, not wait for the client.
		b.end(b.now())
		return n, classify(err)
	}
	return n, err
}

// Limit sets the Total bound of the body from now on, before its first read.
func (b *Body) Limit(total time.Duration) {
	b.lim.Total = total
}

// EndTotal lifts the Total deadline for the rest of the body: its small part has arrived (a
// POST form's fields), and a file of any size follows, bound by the rate alone.
func (b *Body) EndTotal() {
	b.lim.Total = 0
	b.until = time.Time{}
}

// Close implements io.Closer.
func (b *Body) Close() error {
	b.end(time.Time{})
	return b.r.Close()
}

// end sets the read deadline once the body has ended: none after its end or a Close, so the
// server's watch for a closed connection runs; now after a failure.
func (b *Body) end(deadline time.Time) {
	if !b.ended {
		b.ended = true
		_ = b.rc.SetReadDeadline(deadline)
	}
}
