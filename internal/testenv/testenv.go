// Package testenv holds what the tests' environment helpers share; its subpackages start the
// services themselves.
package testenv

import (
	"fmt"
	"os"
	"testing"

	"presign/internal/tcpcc"
)

// Missing ends t for want of something the machine lacks: it skips t on a developer's machine,
// and fails it under CI=true, where .ci/run has provided everything and a skip would hide a
// broken setup.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true, so this fails)")
	}
	t.Skip(msg)
}

// CongestionDefaultNotReno returns the host's default TCP congestion control. It ends t (see
// Missing) where that cannot be read, or is reno: reno is what the storage node chooses for
// loopback sockets, so a test could not tell the node's choice from the default.
func CongestionDefaultNotReno(t testing.TB) string {
	t.Helper()
	def, err := tcpcc.HostDefault()
	if err != nil {
		Missing(t, "no per-socket congestion control here: %v", err)
	}
	if def == "reno" {
		Missing(t, "the host's default congestion control is reno, so no choice would show")
	}
	return def
}
