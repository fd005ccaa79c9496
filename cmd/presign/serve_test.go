package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freePort returns a loopback address no one listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A start that fails after serve has bound its listeners leaves neither port taken, whichever
// step failed: a restart with the same flags can bind them again.
func TestServeFailedStartReleasesItsListeners(t *testing.T) {
	for _, tc := range []struct {
		name string
		args string
		prep func(t *testing.T, data, storageAddr string) // makes the start fail
		want string
		// holdsStorage: prep keeps the storage address bound itself.
		holdsStorage bool
	}{
		{"storage port taken", "", func(t *testing.T, _, storageAddr string) {
			ln, err := net.Listen("tcp", storageAddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, "storage node:", true},
		{"webhook secret damaged", "", func(t *testing.T, data, _ string) {
			os.MkdirAll(data, 0o700)
			os.WriteFile(filepath.Join(data, webhookSecretFile), []byte("short\n"), 0o600)
		}, "damaged", false},
		{"backend refused", "--backend s3 --backend-endpoint http://127.0.0.1:1 --backend-bucket b --backend-tcp-congestion no-such-cc",
			func(*testing.T, string, string) {}, "no-such-cc", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			ctlAddr, stAddr := freePort(t), freePort(t)
			tc.prep(t, data, stAddr)
			m, _, _ := testMain(map[string]string{"PRESIGN_BACKEND_ACCESS_KEY": "a", "PRESIGN_BACKEND_SECRET_KEY": "b"})
			args := append([]string{"serve", "--data", data, "--addr", ctlAddr, "--storage-addr", stAddr}, strings.Fields(tc.args)...)
			err := m.Run(t.Context(), args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve: %v, want an error containing %q", err, tc.want)
			}
			for _, addr := range []string{ctlAddr, stAddr} {
				if addr == stAddr && tc.holdsStorage {
					continue
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("after the failed start, %s is still taken: %v", addr, err)
				}
				ln.Close()
			}
		})
	}
}
