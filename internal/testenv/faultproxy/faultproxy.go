// Package faultproxy is a TCP proxy for tests that stands between a program and a service it
// depends on (PostgreSQL, Redis, an S3 cluster) and fails the way that service fails, without
// touching the service itself, which other tests may share:
//
//   - Reset closes every open connection with a TCP reset, as a restarting server does.
//   - Stall keeps connections open but stops passing bytes, as a hung server does.
//   - Refuse closes the listening port, as a server that is down does: new connections are
//     refused and open ones reset.
//   - ResetEach resets open connections and every new one as soon as it is accepted, as a
//     server that crashes over and over does.
//   - Pass forwards again.
//
// It knows nothing of the protocols it carries, so it works for any of them.
package faultproxy

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Mode is what the proxy does with the traffic.
type Mode int

// The modes, see the package doc.
const (
	Pass Mode = iota
	Stall
	Refuse
	ResetEach
)

// Proxy forwards connections from its address to a target. It is safe for concurrent use.
type Proxy struct {
	addr   string
	target string

	mu     sync.Mutex
	ln     net.Listener
	mode   Mode
	resume chan struct{} // closed when a stall ends
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
}

// Start listens on a free loopback port and forwards to target (host:port) until t ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, ln: ln, resume: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.resume)
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port, to give the program instead of the service's.
func (p *Proxy) Addr() string { return p.addr }

// Reset closes every open connection with a TCP reset; later connections pass.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetLocked()
}

// Set switches the proxy to mode m. Leaving Stall lets held bytes through; Refuse resets the
// open connections and closes the port; leaving Refuse listens on the same port again.
func (p *Proxy) Set(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || m == p.mode {
		return nil
	}
	if p.mode == Stall {
		close(p.resume)
	}
	if p.mode == Refuse {
		ln, err := listenAgain(p.addr)
		if err != nil {
			return err
		}
		p.ln = ln
		p.wg.Add(1)
		go p.accept(ln)
	}
	switch m {
	case Stall:
		p.resume = make(chan struct{})
	case Refuse:
		p.ln.Close()
		p.resetLocked()
	case ResetEach:
		p.resetLocked()
	}
	p.mode = m
	return nil
}

// listenAgain takes the port back; a connection of the last listener may hold it for a moment.
func listenAgain(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

func (p *Proxy) resetLocked() {
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	if p.mode == Stall {
		close(p.resume)
	}
	p.ln.Close()
	p.resetLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// track registers c as open, or reports false when the proxy is no longer passing new
// connections (refusing, resetting or closed).
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Refuse || p.mode == ResetEach {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		if tc, ok := client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(server) {
		p.drop(client)
		if server != nil {
			server.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	p.drop(client)
	p.drop(server)
	<-done
}

// drop closes c and forgets it.
func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// pipe copies from src to dst, holding each chunk while the proxy stalls.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			resume := p.resume
			p.mu.Unlock()
			<-resume
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// Either side's end (or error) ends both: the protocols carried here do not
			// half-close.
			return
		}
	}
}
