package s3backend

import (
	"io"
)

// holdback passes a body on to a request of its exact length, except for the last byte read
// so far: that byte is sent only once the body has returned io.EOF, that is once every check
// on it has passed, and once commit has agreed. A body that fails, or a commit that refuses,
// makes Read fail instead, so the service receives fewer bytes than the request declared and
// stores nothing. The service therefore never holds an object whose checks failed, even for
// a moment, while no byte but one is ever buffered.
type holdback struct {
	r      io.Reader
	commit func() error // called once, when the body ended well, before its last byte is sent
	buf    []byte       // buf[0] carries the held byte in front of the next bytes read
	ready  []byte       // bytes that may be sent now
	held   bool         // hb is valid
	hb     byte
	done   bool  // the last byte was released
	err    error // sticky: the body's or commit's failure
}

func newHoldback(r io.Reader, commit func() error) *holdback {
	return &holdback{r: r, commit: commit, buf: make([]byte, 1+256<<10)}
}

// Err is the failure of the body or of commit, if one ended the stream.
func (h *holdback) Err() error { return h.err }

func (h *holdback) Read(p []byte) (int, error) {
	for {
		if len(h.ready) > 0 {
			n := copy(p, h.ready)
			h.ready = h.ready[n:]
			return n, nil
		}
		if h.err != nil {
			return 0, h.err
		}
		if h.done {
			return 0, io.EOF
		}
		n, err := h.r.Read(h.buf[1:])
		if err != nil && err != io.EOF {
			h.err = err
			return 0, err
		}
		if n > 0 {
			data := h.buf[1 : 1+n]
			if h.held {
				h.buf[0] = h.hb
				data = h.buf[:1+n]
			}
			h.ready = data[:len(data)-1]
			h.hb, h.held = data[len(data)-1], true
		}
		if err == io.EOF {
			if cerr := h.commit(); cerr != nil {
				h.err, h.ready = cerr, nil
				return 0, cerr
			}
			h.done = true
			if h.held {
				h.ready = append(h.ready[:len(h.ready):len(h.ready)], h.hb)
				h.held = false
			}
		}
	}
}
