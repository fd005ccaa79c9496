// Package tcpcc sets the TCP congestion control algorithm of a process's own sockets, so that an
// operator can choose it per service rather than for the whole host.
//
// It exists for one measured case: a host whose default is BBR without the fq qdisc (the
// loopback device never has one) paces every socket with a high-resolution timer in the kernel,
// and a gateway node, which sends every byte it receives on, pays that per packet on both of its
// sides. On a 2-vCPU VM a download through a gateway cost the node 0.46 CPU-seconds per GB with
// BBR and 0.37 with reno (medians; docs/gateway.md).
//
// Auto, the storage node's default, takes that cost off loopback sockets only.
package tcpcc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
)

// ErrUnsupported is returned where the operating system has no per-socket congestion control.
var ErrUnsupported = errors.New("setting the TCP congestion control is supported on Linux only")

// Choices that are not algorithm names.
const (
	// Host keeps the host's default on every socket; so does the empty string.
	Host = "host"
	// Auto puts a socket bound to or dialing a loopback address on reno, and keeps the host's
	// default on every other. Reno is always allowed to unprivileged processes, and on a lossless
	// loopback path it grows its window as cubic does; what it gives up is BBR's pacing, which
	// costs a timer interrupt per burst and has no queue to protect there. A listener on a
	// wildcard address is not a loopback socket, so the connections it accepts keep the host's
	// default even when they come from this host: Linux cannot take pacing off an established
	// socket. Where sockets have no congestion control of their own (not Linux), Auto does
	// nothing.
	Auto = "auto"
)

// loopbackAlgorithm is Auto's choice for loopback sockets.
const loopbackAlgorithm = "reno"

// Control returns a net.ListenConfig or net.Dialer Control function that applies choice, an
// algorithm (e.g. "reno", "cubic", "bbr"), Auto or Host, to every TCP socket; nil for Host or
// the empty string. Sockets a listener accepts inherit its algorithm. The error of a refused
// algorithm names the ones this process may choose.
func Control(choice string) func(network, address string, c syscall.RawConn) error {
	if choice == "" || choice == Host {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil
		}
		if choice != Auto {
			return apply(c, choice)
		}
		if !loopback(address) {
			return nil
		}
		// Auto is an optimisation, not a demand: without per-socket congestion control the
		// socket keeps what the host gives it.
		if err := apply(c, loopbackAlgorithm); !errors.Is(err, ErrUnsupported) {
			return err
		}
		return nil
	}
}

// loopback reports whether address, a host:port as a Control function receives it, is on a
// loopback network (127.0.0.0/8 or ::1).
func loopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// apply sets algorithm on the socket behind c.
func apply(c syscall.RawConn, algorithm string) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = set(fd, algorithm) }); err != nil {
		return err
	}
	if serr != nil {
		return refused(algorithm, serr)
	}
	return nil
}

// Check reports whether this process may use choice, with the error a socket would get, so
// that a wrong name fails a start rather than the first connection. Auto, Host and the empty
// string are always valid.
func Check(choice string) error {
	if choice == "" || choice == Host || choice == Auto {
		return nil
	}
	if err := check(choice); err != nil {
		return refused(choice, err)
	}
	return nil
}

// Get reports the congestion control algorithm of the socket behind c.
func Get(c syscall.Conn) (string, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var name string
	var gerr error
	if err := rc.Control(func(fd uintptr) { name, gerr = get(fd) }); err != nil {
		return "", err
	}
	return name, gerr
}

// refused explains a refused algorithm with what the kernel offers and allows.
func refused(algorithm string, err error) error {
	if errors.Is(err, ErrUnsupported) {
		return err
	}
	why := "refused"
	switch {
	case errors.Is(err, syscall.ENOENT):
		why = "not available in this kernel"
	case errors.Is(err, syscall.EPERM):
		why = "not allowed for this process"
	}
	return fmt.Errorf("TCP congestion control %q: %s (%w); available: %s; allowed without CAP_NET_ADMIN: %s",
		algorithm, why, err, sysctl("tcp_available_congestion_control"), sysctl("tcp_allowed_congestion_control"))
}

// HostDefault reports the algorithm the host gives a socket that chooses none.
func HostDefault() (string, error) {
	return readSysctl("tcp_congestion_control")
}

// sysctl reads a net.ipv4 setting for an error message, or says it could not.
func sysctl(name string) string {
	v, err := readSysctl(name)
	if err != nil {
		return "unknown"
	}
	return v
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
	if err != nil {
		return "", fmt.Errorf("reading net.ipv4.%s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
