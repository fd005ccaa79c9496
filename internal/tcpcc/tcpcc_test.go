package tcpcc_test

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"presign/internal/tcpcc"
	"presign/internal/testenv"
)

func TestAlgorithmIsSetOnListenedAcceptedAndDialedSockets(t *testing.T) {
	testenv.CongestionDefaultNotReno(t)
	expect(t, connect(t, "reno", "127.0.0.1:0", "127.0.0.1"), "reno")
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
	testenv.CongestionDefaultNotReno(t)
	expect(t, connect(t, tcpcc.Auto, "127.0.0.1:0", "127.0.0.1"), "reno")
	expect(t, connect(t, tcpcc.Auto, "[::1]:0", "::1"), "reno")
}

func TestAutoKeepsTheHostDefaultOffLoopback(t *testing.T) {
	def := testenv.CongestionDefaultNotReno(t)
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
		testenv.Missing(t, "this host has no IPv4 address besides loopback")
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
	def := testenv.CongestionDefaultNotReno(t)
	for _, choice := range []string{tcpcc.Host, ""} {
		if tcpcc.Control(choice) != nil {
			t.Fatalf("Control(%q) should leave sockets alone", choice)
		}
		expect(t, connect(t, choice, "127.0.0.1:0", "127.0.0.1"), def)
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
		testenv.Missing(t, "no per-socket congestion control here: %v", err)
	}
	if want := "allowed without CAP_NET_ADMIN: " + strings.TrimSpace(string(allowed)); !strings.Contains(msg, want) {
		t.Errorf("error %q does not say %q", msg, want)
	}
}
