package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultProxy is a TCP proxy between clients and the storage node. It reads just enough
// HTTP/1.1 to find each request's head and Content-Length body, and each response's end, so it
// can count requests and parts in flight, and injure the traffic the way a bad network does:
// cut a connection in the middle of a body, slow it down, or flip a byte. Bytes it does not
// injure pass through unchanged (signatures stay valid).
type faultProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu          sync.Mutex
	reqs        []*proxiedRequest
	inflight    int // part PUTs whose answer has not arrived
	maxInflight int
	getConns    int
	cuts        int
	// cutUpload, when set, tells after how many body bytes to cut a request's connection
	// (negative: let it through).
	cutUpload func(r *proxiedRequest) int64
	// corrupt, when set, tells which body byte of a request to flip (negative: none).
	corrupt func(r *proxiedRequest) int64
	// cutDownload, when set, tells after how many bytes of answers a connection is cut
	// (negative: never); conn counts the connections carrying a GET, from 1.
	cutDownload func(conn int) int64
	// upRate and downRate cap each connection's bytes per second (0: no cap).
	upRate, downRate int64
}

// proxiedRequest is what the proxy saw of one request.
type proxiedRequest struct {
	Method string
	URL    *url.URL
	Header http.Header
	Part   int   // partNumber, 0 when none
	Sent   int64 // body bytes passed to the store
	Cut    bool  // the proxy cut the connection during this request
	Status int   // the final answer's status, 0 when none arrived
}

// newFaultProxy listens now; the target (the storage node's URL) may be set later with
// setTarget, so the proxy's address can be given to the process that starts the node.
func newFaultProxy(t *testing.T) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln}
	go p.serve()
	t.Cleanup(func() { ln.Close() })
	return p
}

// URL is the proxy's base URL, for --public-storage-url.
func (p *faultProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *faultProxy) setTarget(u string) {
	p.set(func(p *faultProxy) { p.target = strings.TrimPrefix(u, "http://") })
}

// set changes the proxy's behaviour under its lock.
func (p *faultProxy) set(f func(p *faultProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// requests returns a copy of what the proxy saw so far, and forgets it when reset.
func (p *faultProxy) requests(reset bool) []proxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]proxiedRequest, len(p.reqs))
	for i, r := range p.reqs {
		out[i] = *r
	}
	if reset {
		p.reqs, p.maxInflight, p.cuts = nil, p.inflight, 0
	}
	return out
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// handle relays one connection: requests upstream, answers downstream, each side parsed.
func (p *faultProxy) handle(client net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	server, err := net.Dial("tcp", target)
	if err != nil {
		client.Close()
		return
	}
	c := &proxyConn{p: p, client: client, server: server, pending: make(chan *proxiedRequest, 16)}
	go c.downstream()
	c.upstream()
}

type proxyConn struct {
	p              *faultProxy
	client, server net.Conn
	pending        chan *proxiedRequest // requests awaiting their answer, in order
	closeOnce      sync.Once
	getConn        int // this connection's number among those that carried a GET; 0 before one
}

func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// upstream forwards requests: each head verbatim, then its body with the injuries asked for.
func (c *proxyConn) upstream() {
	defer close(c.pending)
	defer c.close()
	br := bufio.NewReaderSize(c.client, 64<<10)
	for {
		head, req, err := readHead(br)
		if err != nil {
			return
		}
		p := c.p
		p.mu.Lock()
		p.reqs = append(p.reqs, req)
		cut, flip := int64(-1), int64(-1)
		if p.cutUpload != nil {
			cut = p.cutUpload(req)
		}
		if p.corrupt != nil {
			flip = p.corrupt(req)
		}
		if req.Part > 0 {
			p.inflight++
			p.maxInflight = max(p.maxInflight, p.inflight)
		}
		if req.Method == http.MethodGet && c.getConn == 0 {
			p.getConns++
			c.getConn = p.getConns
		}
		rate := p.upRate
		p.mu.Unlock()
		c.pending <- req
		if _, err := c.server.Write(head); err != nil {
			return
		}
		n, _ := strconv.ParseInt(req.Header.Get("Content-Length"), 10, 64)
		if !c.body(br, req, n, cut, flip, rate) {
			return
		}
	}
}

// body forwards n body bytes; it reports false when the connection is over.
func (c *proxyConn) body(br *bufio.Reader, req *proxiedRequest, n, cut, flip, rate int64) bool {
	buf := make([]byte, 32<<10)
	start := time.Now()
	var sent int64
	for sent < n {
		m := min(int64(len(buf)), n-sent)
		if cut >= 0 && sent+m > cut {
			m = cut - sent
		}
		if m > 0 {
			if _, err := io.ReadFull(br, buf[:m]); err != nil {
				return false
			}
			if flip >= sent && flip < sent+m {
				buf[flip-sent] ^= 0xff
			}
			if _, err := c.server.Write(buf[:m]); err != nil {
				return false
			}
			sent += m
			c.p.mu.Lock()
			req.Sent = sent
			c.p.mu.Unlock()
		}
		if cut >= 0 && sent >= cut {
			c.p.mu.Lock()
			req.Cut = true
			c.p.cuts++
			c.p.mu.Unlock()
			return false
		}
		pace(start, sent, rate)
	}
	return true
}

// pace sleeps so that sent bytes since start keep under rate per second.
func pace(start time.Time, sent, rate int64) {
	if rate <= 0 {
		return
	}
	if d := time.Duration(float64(sent)/float64(rate)*float64(time.Second)) - time.Since(start); d > 0 {
		time.Sleep(d)
	}
}

// downstream forwards answers verbatim, noting when each request's final answer arrives, and
// cuts the connection after the bytes cutDownload allows.
func (c *proxyConn) downstream() {
	defer func() {
		for req := range c.pending {
			c.answered(req, 0)
		}
	}()
	defer c.close()
	w := &cuttingWriter{c: c, start: time.Now()}
	br := bufio.NewReaderSize(io.TeeReader(c.server, w), 64<<10)
	for req := range c.pending {
		for {
			resp, err := http.ReadResponse(br, &http.Request{Method: req.Method})
			if err != nil {
				c.answered(req, 0)
				return
			}
			if resp.StatusCode >= 200 {
				c.answered(req, resp.StatusCode)
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return
				}
				break
			}
		}
	}
}

// answered records a request's final status (-1: the connection ended first).
func (c *proxyConn) answered(req *proxiedRequest, status int) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if req.Status != 0 {
		return
	}
	if req.Part > 0 {
		c.p.inflight--
	}
	req.Status = status
	if status == 0 {
		req.Status = -1
	}
}

// cuttingWriter passes answer bytes to the client, paced and cut as the proxy says.
type cuttingWriter struct {
	c     *proxyConn
	n     int64
	start time.Time
}

func (w *cuttingWriter) Write(b []byte) (int, error) {
	total := len(b)
	p := w.c.p
	p.mu.Lock()
	limit, rate := int64(-1), p.downRate
	if p.cutDownload != nil && w.c.getConn > 0 {
		limit = p.cutDownload(w.c.getConn)
	}
	p.mu.Unlock()
	if limit >= 0 && w.n+int64(len(b)) > limit {
		if keep := limit - w.n; keep > 0 {
			w.c.client.Write(b[:keep])
		}
		p.mu.Lock()
		p.cuts++
		p.mu.Unlock()
		w.c.close()
		return 0, errors.New("cut by the proxy")
	}
	for len(b) > 0 {
		m := min(len(b), 32<<10)
		if _, err := w.c.client.Write(b[:m]); err != nil {
			return 0, err
		}
		w.n += int64(m)
		b = b[m:]
		pace(w.start, w.n, rate)
	}
	return total, nil
}

// readHead reads a request head verbatim and parses what the proxy needs of it.
func readHead(br *bufio.Reader) ([]byte, *proxiedRequest, error) {
	var head bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, nil, err
		}
		head.Write(line)
		if len(line) <= 2 && strings.TrimSpace(string(line)) == "" {
			if head.Len() == len(line) {
				head.Reset() // a stray line ending between requests
				continue
			}
			break
		}
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head.Bytes())))
	if err != nil {
		return nil, nil, err
	}
	pr := &proxiedRequest{Method: req.Method, URL: req.URL, Header: req.Header}
	pr.Part, _ = strconv.Atoi(req.URL.Query().Get("partNumber"))
	if req.ContentLength >= 0 {
		pr.Header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	}
	return head.Bytes(), pr, nil
}
