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
	def, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		ccUnavailable(t, "no per-socket congestion control here: %v", err)
	}
	// reno is always built in and allowed; when it is the host's default, bbr or cubic (root
	// only) shows that the option, not the default, decided.
	want := "reno"
	if strings.TrimSpace(string(def)) == want {
		want = "cubic"
	}
	if err := tcpcc.Check(want); err != nil {
		ccUnavailable(t, "%v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var got string
	var gerr error
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		got, gerr = tcpcc.Get(info.Conn.(*net.TCPConn))
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newHTTPClient(want).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gerr != nil || got != want {
		t.Fatalf("connection uses %q (%v), want %q", got, gerr, want)
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
