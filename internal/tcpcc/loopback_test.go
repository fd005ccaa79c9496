package tcpcc

import "testing"

func TestLoopbackRecognisesOnlyLoopbackAddresses(t *testing.T) {
	for _, tc := range []struct {
		address string
		want    bool
	}{
		{"127.0.0.1:9000", true},
		{"127.3.4.5:80", true},
		{"[::1]:9000", true},
		{"[::ffff:127.0.0.1]:9000", true},
		{"0.0.0.0:9000", false},
		{"[::]:9000", false},
		{"10.0.0.7:8333", false},
		{"[2001:db8::1]:443", false},
		{"localhost:9000", false},
		{"127.0.0.1", false},
		{"", false},
	} {
		if got := loopback(tc.address); got != tc.want {
			t.Errorf("loopback(%q) = %v, want %v", tc.address, got, tc.want)
		}
	}
}
