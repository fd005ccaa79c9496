// Package tcpcc sets the TCP congestion control algorithm of a process's own sockets, so that an
// operator can choose it per service rather than for the whole host.
//
// It exists for one measured case: a host whose default is BBR without the fq qdisc (the
// loopback device never has one) paces every socket with a high-resolution timer in the kernel,
// and a gateway node, which sends every byte it receives on, pays that per packet on both of its
// sides. On a 2-vCPU VM a download through a gateway cost the node 0.46 CPU-seconds per GB with
// BBR and 0.37 with reno (medians; docs/gateway.md).
package tcpcc

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ErrUnsupported is returned where the operating system has no per-socket congestion control.
var ErrUnsupported = errors.New("setting the TCP congestion control is supported on Linux only")

// Control returns a net.ListenConfig or net.Dialer Control function that sets algorithm (e.g.
// "reno", "cubic", "bbr") on every TCP socket, or nil when algorithm is empty, which keeps the
// host's default. Sockets a listener accepts inherit its algorithm. The error of a refused
// algorithm names the ones this process may choose.
func Control(algorithm string) func(network, address string, c syscall.RawConn) error {
	if algorithm == "" {
		return nil
	}
	return func(network, _ string, c syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil
		}
		var serr error
		if err := c.Control(func(fd uintptr) { serr = set(fd, algorithm) }); err != nil {
			return err
		}
		if serr != nil {
			return refused(algorithm, serr)
		}
		return nil
	}
}

// Check reports whether this process may use algorithm, with the error a socket would get, so
// that a wrong name fails a start rather than the first connection. Empty is always valid.
func Check(algorithm string) error {
	if algorithm == "" {
		return nil
	}
	if err := check(algorithm); err != nil {
		return refused(algorithm, err)
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

// sysctl reads a net.ipv4 setting, or says it could not.
func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
