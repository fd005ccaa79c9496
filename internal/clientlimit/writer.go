package clientlimit

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Writer is a response body writer that ends with ErrTimeout when the client reads more slowly
// than a Rate, such as a download that is never read: its handler then returns and releases
// what it held (an open file) instead of waiting for the client forever. It sets the
// connection's write deadline before each write; Done clears it.
type Writer struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	m   meter
	now func() time.Time
}

// NewWriter wraps w with the minimum rate r (a zero Rate sets none).
func NewWriter(w http.ResponseWriter, r Rate) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w), m: newMeter(r), now: time.Now}
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	start, err := w.arm()
	if err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	return n, w.moved(start, int64(n), err)
}

// ReadFrom implements io.ReaderFrom, keeping the connection's own (sendfile for a file, an
// *io.LimitedReader of an *os.File, which stays one). It passes the file on in large pieces;
// a deadline that passes inside a piece marks only the end of a window, so a client that moved
// enough in it goes on from where the file stands. Any other reader goes in pieces small
// enough for a client at the minimum rate to take one within a window, since what a failed
// copy read from it is lost.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.w.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	lr, limited := r.(*io.LimitedReader)
	file := false
	if limited {
		_, file = lr.R.(*os.File)
	}
	piece := int64(4 << 20)
	if !file && w.m.rate.on() {
		piece = min(max(w.m.rate.quota()/2, 16<<10), 4<<20)
	}
	var total int64
	for {
		chunk := &io.LimitedReader{R: r, N: piece}
		if limited {
			if lr.N <= 0 {
				return total, nil
			}
			chunk = &io.LimitedReader{R: lr.R, N: min(piece, lr.N)}
		}
		start, err := w.arm()
		if err != nil {
			return total, err
		}
		n, err := rf.ReadFrom(chunk)
		total += n
		if limited {
			lr.N -= n
		}
		if file && n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			if err := w.moved(start, n, nil); err != nil {
				return total, err
			}
			continue
		}
		if err := w.moved(start, n, err); err != nil {
			return total, err
		}
		if n == 0 || (!limited && chunk.N > 0) {
			return total, nil // the reader ended
		}
	}
}

// Done clears the write deadline, for whatever the connection answers next.
func (w *Writer) Done() { _ = w.rc.SetWriteDeadline(time.Time{}) }

// arm sets the write deadline of the next write.
func (w *Writer) arm() (time.Time, error) {
	start := w.now()
	if d, ok := w.m.allowance(); ok {
		if d <= 0 {
			return start, ErrTimeout
		}
		_ = w.rc.SetWriteDeadline(start.Add(d))
	}
	return start, nil
}

func (w *Writer) moved(start time.Time, n int64, err error) error {
	if merr := w.m.moved(w.now().Sub(start), int(n)); merr != nil && err == nil {
		err = merr
	}
	return classify(err)
}
