package egress_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"presign/internal/egress"
	"presign/internal/egress/egresstest"
)

func TestCheckRefusesNonPublicAddressesInEveryForm(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.1",
		"239.255.255.250", "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.170",
		"::1", "::", "fe80::1", "fe80::1%lo", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0:a00:1",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::1", "2002:a9fe:a9fe::",
		"::127.0.0.1", "::8.8.8.8", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "100::1",
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "203.0.113.10", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	}
	var zero egress.Policy
	for _, s := range refused {
		ip := netip.MustParseAddr(s)
		if err := zero.Check(ip); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("Check(%s) = %v, want refused", s, err)
		}
		if err := (egress.Policy{AllowPrivate: true}).Check(ip); err != nil {
			t.Errorf("AllowPrivate: Check(%s) = %v", s, err)
		}
	}
	for _, s := range allowed {
		if err := zero.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
	if err := zero.Check(netip.Addr{}); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("Check(zero Addr) = %v, want refused", err)
	}
}

// A real dial through the policy's dialer: the listener on 127.0.0.1 is never reached unless
// private addresses are allowed.
func TestDialerRefusesLoopbackBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost", "::ffff:127.0.0.1"} {
		addr := net.JoinHostPort(host, port)
		c, err := egress.Policy{}.Dialer(time.Second).DialContext(t.Context(), "tcp", addr)
		if !errors.Is(err, egress.ErrRefused) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial %s: %v, want refused", addr, err)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a refused dial reached the listener")
	case <-time.After(50 * time.Millisecond):
	}
	c, err := egress.Policy{AllowPrivate: true}.Dialer(time.Second).DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("AllowPrivate dial: %v", err)
	}
	c.Close()
	<-accepted
}

// A name that resolves to a public address when checked and to loopback when dialed is refused
// at the dial: the dialer checks the address it connects to, not the one seen earlier.
func TestDNSRebindingIsRefusedAtTheDial(t *testing.T) {
	dns := egresstest.StartDNS(t)
	dns.Set("hooks.example.test", netip.MustParseAddr("203.0.113.10"))
	p := egress.Policy{}
	if err := p.CheckHost(t.Context(), dns.Resolver(), "hooks.example.test"); err != nil {
		t.Fatalf("CheckHost of a public answer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dns.Set("hooks.example.test", netip.MustParseAddr("127.0.0.1"))
	d := p.Dialer(time.Second)
	d.Resolver = dns.Resolver()
	c, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("hooks.example.test", port))
	if !errors.Is(err, egress.ErrRefused) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial after rebinding: %v, want refused", err)
	}
	if err := p.CheckHost(t.Context(), dns.Resolver(), "hooks.example.test"); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("CheckHost after rebinding: %v, want refused", err)
	}
}

func TestCheckHostRefusesANameWithAnyRefusedAddress(t *testing.T) {
	dns := egresstest.StartDNS(t)
	dns.Set("mixed.example.test", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("::1"))
	dns.Set("meta.example.test", netip.MustParseAddr("169.254.169.254"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, host := range []string{"mixed.example.test", "meta.example.test", "10.0.0.1", "::1"} {
		if err := (egress.Policy{}).CheckHost(ctx, dns.Resolver(), host); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("CheckHost(%s) = %v, want refused", host, err)
		}
	}
	if err := (egress.Policy{}).CheckHost(ctx, dns.Resolver(), "nowhere.example.test"); err == nil || errors.Is(err, egress.ErrRefused) {
		t.Errorf("CheckHost of an unknown name = %v, want a resolution error", err)
	}
}
