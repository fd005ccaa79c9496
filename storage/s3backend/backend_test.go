package s3backend

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"

	"presign/internal/tcpcc"
)

func TestDefaultClientDialsWithTheChosenCongestionControl(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		ccUnavailable(t, "no per-socket congestion control here: %v", err)
	}
	def := strings.TrimSpace(string(b))
	if def == "reno" {
		ccUnavailable(t, "the host's default is reno, so no choice would show here")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	for _, tc := range []struct{ choice, want string }{
		{"reno", "reno"},
		// The test server listens on loopback.
		{tcpcc.Auto, "reno"},
		{tcpcc.Host, def},
		{"", def},
	} {
		var got string
		var gerr error
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			got, gerr = tcpcc.Get(info.Conn.(*net.TCPConn))
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := newHTTPClient(tc.choice).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if gerr != nil || got != tc.want {
			t.Errorf("with %q the connection uses %q (%v), want %q", tc.choice, got, gerr, tc.want)
		}
	}
}

func TestOpenRefusesCongestionControlBesideAClientOfItsOwn(t *testing.T) {
	_, err := Open(t.Context(), Options{Endpoint: "http://127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s",
		HTTPClient: http.DefaultClient, TCPCongestion: "reno"})
	if err == nil || !strings.Contains(err.Error(), "TCPCongestion") {
		t.Fatalf("Open with both HTTPClient and TCPCongestion: %v, want an error", err)
	}
}

// ccUnavailable skips a test on a host without the congestion control it needs, except in CI,
// whose Linux machines have it.
func ccUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
