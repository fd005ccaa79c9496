// Package egress decides which network addresses the control plane may connect to on a user's
// behalf, so that a URL a user registers (a webhook, a broker) cannot reach the control plane's
// own network: loopback, link-local (cloud metadata services), private and shared (CGNAT)
// ranges, and addresses that are no destination at all (unspecified, multicast, broadcast,
// reserved).
//
// The check runs on the address actually dialed, after DNS resolution, on every connection:
// Policy.Control is a net.Dialer Control hook, so a name that resolved to a public address when
// the URL was registered and to 127.0.0.1 later (DNS rebinding) is refused at the connection.
// Policy.CheckHost gives the same answer early, at registration.
//
// Start with Policy.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every error that refuses an address.
var ErrRefused = errors.New("egress: address refused")

// Policy is which addresses may be dialed. The zero Policy refuses every address listed in
// Check.
type Policy struct {
	// AllowPrivate allows every address: loopback, private, link-local and the rest. It is for
	// deployments whose applications live on a private network, and is an administrator's
	// decision.
	AllowPrivate bool
}

// refused are the ranges the zero Policy refuses, with the reason a refusal names. IPv4
// addresses inside IPv6 forms (v4-mapped, NAT64, 6to4, IPv4-compatible) are unwrapped before
// the check, so ::ffff:127.0.0.1 is loopback.
var refused = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // includes 255.255.255.255
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// IPv6 prefixes that carry an IPv4 address, which is the one that decides.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052: the last 32 bits
	nat64loc  = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215: local-use translation
	sixToFour = netip.MustParsePrefix("2002::/16")       // RFC 3056: bits 16..47
	teredo    = netip.MustParsePrefix("2001::/32")       // RFC 4380: a tunnel to anywhere
	siit      = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 IPv4-translated: last 32 bits
)

// Check reports whether p allows connecting to ip. The error wraps ErrRefused and names the
// range.
func (p Policy) Check(ip netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	if !ip.IsValid() {
		return fmt.Errorf("%w: no address", ErrRefused)
	}
	orig := ip
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is6() {
		if teredo.Contains(ip) || nat64loc.Contains(ip) {
			return fmt.Errorf("%w: %s is a tunnel or local translation address", ErrRefused, orig)
		}
		if v4, ok := embeddedV4(ip); ok {
			ip = v4
		}
	}
	for _, r := range refused {
		if r.prefix.Contains(ip) {
			return fmt.Errorf("%w: %s is %s", ErrRefused, orig, r.why)
		}
	}
	return nil
}

// embeddedV4 returns the IPv4 address an IPv6 form carries, if it is one of the forms that
// route to it.
func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip), siit.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// Control is a net.Dialer Control hook: it refuses the connection before it is made when the
// resolved address is one p refuses. Go calls it for every address it tries, after resolution.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the dialed address %q", ErrRefused, address)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a net.Dialer that applies p to every connection it makes, with the connect
// timeout.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHost resolves host (a name or an address literal) with r (net.DefaultResolver when nil)
// and reports whether p allows every address it has: one refused address refuses the host, as
// a dialer could pick any of them. It is the early answer, at registration; the dialer checks
// again on every connection.
func (p Policy) CheckHost(ctx context.Context, r Resolver, host string) error {
	if p.AllowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.Check(ip)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return fmt.Errorf("resolve %s: no address", host)
	}
	for _, ip := range ips {
		if err := p.Check(ip); err != nil {
			return fmt.Errorf("%s resolves to a refused address: %w", host, err)
		}
	}
	return nil
}
