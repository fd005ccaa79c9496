package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"presign/control/provider/azure/azuritetest"
)

// TestCLIOverAzurite runs "presign control --storage-provider azure" against Azurite and the
// client commands against it unchanged: login, a single upload, a multipart upload, get (the
// bytes and the file's name), rm.
func TestCLIOverAzurite(t *testing.T) {
	emu, err := azuritetest.Start()
	if err == nil {
		t.Cleanup(emu.Stop)
	}
	name := emu.Container(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{"AZURE_STORAGE_KEY": azuritetest.Key, "PRESIGN_ADMIN_PASSWORD": "cli-azure-admin-1",
		"PRESIGN_CONFIG_DIR": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv, _, srvErr := testMain(env)
	go func() {
		done <- srv.Run(ctx, []string{"control", "--data", t.TempDir(), "--addr", addr, "--storage-provider", "azure",
			"--azure-account", azuritetest.Account, "--azure-container", name, "--azure-endpoint", emu.Endpoint,
			"--multipart-threshold", "6MiB", "--part-size", "5MiB"})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control plane is not ready: %v; stderr %s", err, srvErr)
		}
	}
	run := func(stdin string, args ...string) string {
		t.Helper()
		m, out, errb := testMain(env)
		m.Stdin = strings.NewReader(stdin)
		if err := m.Run(context.Background(), args); err != nil {
			t.Fatalf("presign %s: %v\n%s", strings.Join(args, " "), err, errb)
		}
		return strings.TrimSpace(out.String())
	}
	run("cli-azure-admin-1\n", "login", base, "--username", "admin", "--password-stdin")
	dir := t.TempDir()
	small, big := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "video.bin")
	smallData := []byte("hello from the CLI, over Azure\n")
	bigData := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16)
	if err := os.WriteFile(small, smallData, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, bigData, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{small: smallData, big: bigData} {
		id := run("", "upload", path)
		outDir := t.TempDir()
		run("", "get", id, "-o", outDir)
		got, err := os.ReadFile(filepath.Join(outDir, filepath.Base(path)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: got back %d bytes (%v), want %d under its name", path, len(got), err, len(want))
		}
		run("", "rm", id)
	}
	if ls := run("", "ls"); strings.Contains(ls, "notes.txt") || strings.Contains(ls, "video.bin") {
		t.Fatalf("files left after rm:\n%s", ls)
	}
}
