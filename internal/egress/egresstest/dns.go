// Package egresstest runs a DNS server on 127.0.0.1 whose answers a test controls, so tests can
// make a name resolve to a public address at one moment and to a private one at the next (DNS
// rebinding) without any traffic leaving the machine.
package egresstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a UDP DNS server that answers A and AAAA queries from a table the test sets.
type DNS struct {
	conn net.PacketConn
	mu   sync.Mutex
	hits map[string]int
	zone map[string][]netip.Addr // by lower-case name without the trailing dot
}

// StartDNS starts a server on 127.0.0.1 that t stops when it ends.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dns listen: %v", err)
	}
	d := &DNS{conn: conn, hits: map[string]int{}, zone: map[string][]netip.Addr{}}
	done := make(chan struct{})
	go func() { defer close(done); d.serve() }()
	t.Cleanup(func() { conn.Close(); <-done })
	return d
}

// Set makes name resolve to addrs from now on (none: the name does not exist).
func (d *DNS) Set(name string, addrs ...netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.zone[strings.ToLower(strings.TrimSuffix(name, "."))] = addrs
}

// Queries returns how many queries for name the server answered.
func (d *DNS) Queries(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits[strings.ToLower(strings.TrimSuffix(name, "."))]
}

// Addr is the server's host:port, for a process to be pointed at.
func (d *DNS) Addr() string { return d.conn.LocalAddr().String() }

// Resolver returns a resolver that asks only this server. It does not cache, so every dial
// resolves afresh.
func (d *DNS) Resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

func (d *DNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, ok := d.answer(buf[:n]); ok {
			d.conn.WriteTo(out, from)
		}
	}
}

func (d *DNS) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	d.mu.Lock()
	addrs, known := d.zone[name]
	d.hits[name]++
	d.mu.Unlock()
	rcode := dnsmessage.RCodeSuccess
	if !known {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			rh.Type = dnsmessage.TypeA
			if b.AResource(rh, dnsmessage.AResource{A: a.As4()}) != nil {
				return nil, false
			}
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			rh.Type = dnsmessage.TypeAAAA
			if b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()}) != nil {
				return nil, false
			}
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
