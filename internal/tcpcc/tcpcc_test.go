package tcpcc_test

import (
	"context"
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
	ctx := t.Context()
	ln, err := (&net.ListenConfig{Control: tcpcc.Control(algo)}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	dialed, err := (&net.Dialer{Control: tcpcc.Control(algo)}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()
	for name, c := range map[string]syscall.Conn{"listener": ln.(*net.TCPListener), "accepted": server.(*net.TCPConn), "dialed": dialed.(*net.TCPConn)} {
		got, err := tcpcc.Get(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != algo {
			t.Errorf("%s socket uses %q, want %q", name, got, algo)
		}
	}
}

func TestEmptyAlgorithmKeepsTheHostDefault(t *testing.T) {
	if tcpcc.Control("") != nil {
		t.Fatal("Control(\"\") should leave sockets alone")
	}
	def, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		unavailable(t, "no per-socket congestion control here: %v", err)
	}
	ln, err := (&net.ListenConfig{Control: tcpcc.Control("")}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got, err := tcpcc.Get(ln.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(def)); got != want {
		t.Errorf("listener uses %q, want the host default %q", got, want)
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
