package s3backend

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"presign/internal/tcpcc"
	"presign/internal/testenv"
)

func TestDefaultClientDialsWithTheChosenCongestionControl(t *testing.T) {
	def := testenv.CongestionDefaultNotReno(t)
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
		resp, err := newHTTPClient(tc.choice, time.Second, time.Second, time.Second).Do(req)
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
	for _, tc := range []struct {
		choice  string
		refused bool
	}{{"reno", true}, {tcpcc.Auto, true}, {tcpcc.Host, false}, {"", false}} {
		// Nothing listens at the endpoint, so an accepted choice fails later, on the service.
		_, err := Open(t.Context(), Options{Endpoint: "http://127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s",
			HTTPClient: http.DefaultClient, TCPCongestion: tc.choice})
		if err == nil {
			t.Fatalf("Open(%q) against no service succeeded", tc.choice)
		}
		if got := strings.Contains(err.Error(), "TCPCongestion"); got != tc.refused {
			t.Errorf("Open with an HTTPClient and TCPCongestion %q: %v; refused for it: %v, want %v", tc.choice, err, got, tc.refused)
		}
	}
}
