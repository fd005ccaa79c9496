package tcpcc_test

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"presign/internal/tcpcc"
)

// unavailable skips a test on a host without per-socket congestion control, except in CI, whose
// Linux machines have it.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// otherAlgorithm picks an algorithm that differs from the host's default, so that finding it on
// a socket proves it was set.
func otherAlgorithm(t *testing.T) string {
	t.Helper()
	read := func(name string) []string {
		b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
		if err != nil {
			unavailable(t, "no per-socket congestion control here: %v", err)
		}
		return strings.Fields(string(b))
	}
	def := read("tcp_congestion_control")[0]
	lists := [][]string{read("tcp_allowed_congestion_control")}
	if os.Geteuid() == 0 {
		lists = append(lists, read("tcp_available_congestion_control"))
	}
	for _, list := range lists {
		for _, a := range list {
			if a != def {
				return a
			}
		}
	}
	unavailable(t, "the host allows only its default, %s", def)
	return ""
}

func TestAlgorithmIsSetOnListenedAcceptedAndDialedSockets(t *testing.T) {
	algo := otherAlgorithm(t)
	expect(t, connect(t, algo, "127.0.0.1:0", "127.0.0.1"), algo)
}

// hostDefault is the host's default algorithm.
func hostDefault(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		unavailable(t, "no per-socket congestion control here: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// connect listens on listenAddr and dials dialAddr (its port filled in from the listener), both
// with choice, and returns the listener's, the accepted and the dialed socket.
func connect(t *testing.T, choice, listenAddr, dialHost string) map[string]syscall.Conn {
	t.Helper()
	ctx := t.Context()
	ln, err := (&net.ListenConfig{Control: tcpcc.Control(choice)}).Listen(ctx, "tcp", listenAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dialed, err := (&net.Dialer{Control: tcpcc.Control(choice)}).DialContext(ctx, "tcp", net.JoinHostPort(dialHost, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	return map[string]syscall.Conn{"listener": ln.(*net.TCPListener), "accepted": server.(*net.TCPConn), "dialed": dialed.(*net.TCPConn)}
}

// expect fails t for every socket not on want.
func expect(t *testing.T, sockets map[string]syscall.Conn, want string) {
	t.Helper()
	for name, c := range sockets {
		got, err := tcpcc.Get(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s socket uses %q, want %q", name, got, want)
		}
	}
}

func TestAutoPutsLoopbackSocketsOnReno(t *testing.T) {
	if def := hostDefault(t); def == "reno" {
		unavailable(t, "the host's default is already reno; nothing would show Auto at work")
	}
	expect(t, connect(t, tcpcc.Auto, "127.0.0.1:0", "127.0.0.1"), "reno")
	expect(t, connect(t, tcpcc.Auto, "[::1]:0", "::1"), "reno")
}

func TestAutoKeepsTheHostDefaultOffLoopback(t *testing.T) {
	def := hostDefault(t)
	var own string
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok && p.IP.To4() != nil && !p.IP.IsLoopback() {
			own = p.IP.String()
			break
		}
	}
	if own == "" {
		unavailable(t, "this host has no IPv4 address besides loopback")
	}
	expect(t, connect(t, tcpcc.Auto, "0.0.0.0:0", own), def)
	// What a wildcard listener accepts keeps the default even from loopback; the dialer, which
	// dials a loopback address, does not.
	fromLoopback := connect(t, tcpcc.Auto, "0.0.0.0:0", "127.0.0.1")
	dialed := fromLoopback["dialed"]
	delete(fromLoopback, "dialed")
	expect(t, fromLoopback, def)
	expect(t, map[string]syscall.Conn{"dialed": dialed}, "reno")
}

func TestHostAndEmptyKeepTheHostDefault(t *testing.T) {
	for _, choice := range []string{tcpcc.Host, ""} {
		if tcpcc.Control(choice) != nil {
			t.Fatalf("Control(%q) should leave sockets alone", choice)
		}
		expect(t, connect(t, choice, "127.0.0.1:0", "127.0.0.1"), hostDefault(t))
	}
}

func TestUnknownAlgorithmFailsWithTheAllowedOnes(t *testing.T) {
	_, err := (&net.ListenConfig{Control: tcpcc.Control("no-such-cc")}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err == nil {
		t.Fatal("listening with an unknown congestion control succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, `"no-such-cc"`) {
		t.Errorf("error %q does not name the algorithm", msg)
	}
	allowed, err := os.ReadFile("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
	if err != nil {
		unavailable(t, "no per-socket congestion control here: %v", err)
	}
	if want := "allowed without CAP_NET_ADMIN: " + strings.TrimSpace(string(allowed)); !strings.Contains(msg, want) {
		t.Errorf("error %q does not say %q", msg, want)
	}
}
