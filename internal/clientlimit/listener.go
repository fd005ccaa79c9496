package clientlimit

import (
	"io"
	"net"
	"net/netip"
	"sync"
)

// Listener caps the connections open at once from one IP address: a connection beyond the cap
// is closed as soon as it is accepted, before a byte is read, so that one address cannot take
// every descriptor of the process and starve the others (health checks, a normal login). It is
// safe for concurrent use.
type Listener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[netip.Addr]int
}

// NewListener caps ln at perAddr connections per remote IP address; perAddr ≤ 0 returns ln
// as it is.
func NewListener(ln net.Listener, perAddr int) net.Listener {
	if perAddr <= 0 {
		return ln
	}
	return &Listener{Listener: ln, max: perAddr, open: make(map[netip.Addr]int)}
}

// Accept implements net.Listener: it returns the next connection within its address's cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c)
		if !ok {
			return c, nil
		}
		if !l.take(ip) {
			c.Close()
			continue
		}
		return &conn{Conn: c, release: func() { l.give(ip) }}, nil
	}
}

func (l *Listener) take(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

func (l *Listener) give(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] <= 1 {
		delete(l.open, ip)
		return
	}
	l.open[ip]--
}

func remoteIP(c net.Conn) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// conn gives its address's place back when closed, once.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps the connection's own (sendfile from a file), which net/http uses for
// downloads.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite keeps the half-close net/http uses to end a connection gracefully.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
