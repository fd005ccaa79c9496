package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"presign/control/provider/azure/azuritetest"
	"presign/control/provider/gcs/gcstest"
)

// TestCLIOverAzurite runs "presign control --storage-provider azure" against Azurite and the
// client commands against it unchanged.
func TestCLIOverAzurite(t *testing.T) {
	emu, err := azuritetest.Start()
	if err == nil {
		t.Cleanup(emu.Stop)
	}
	name := emu.Container(t, err)
	cliFlowOverProvider(t, map[string]string{"AZURE_STORAGE_KEY": azuritetest.Key},
		"--storage-provider", "azure", "--azure-account", azuritetest.Account, "--azure-container", name,
		"--azure-endpoint", emu.Endpoint)
}

// TestCLIOverFakeGCS runs "presign control --storage-provider gcs" against fake-gcs-server (in
// process) and the client commands against it unchanged.
func TestCLIOverFakeGCS(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "cli-files"})
	keyFile := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(keyFile, gcstest.ServiceAccount(), 0o600); err != nil {
		t.Fatal(err)
	}
	cliFlowOverProvider(t, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": keyFile},
		"--storage-provider", "gcs", "--gcs-bucket", "cli-files", "--gcs-endpoint", srv.URL())
}

// cliFlowOverProvider starts "presign control" with providerArgs (env adds the provider's
// credentials) and runs the client commands against it: login, a single upload, a multipart
// upload, get (the bytes and the file's name), rm.
func cliFlowOverProvider(t *testing.T, providerEnv map[string]string, providerArgs ...string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{"PRESIGN_ADMIN_PASSWORD": "cli-provider-admin-1", "PRESIGN_CONFIG_DIR": t.TempDir()}
	for k, v := range providerEnv {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv, _, srvErr := testMain(env)
	args := append([]string{"control", "--data", t.TempDir(), "--addr", addr,
		"--multipart-threshold", "6MiB", "--part-size", "5MiB"}, providerArgs...)
	go func() { done <- srv.Run(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		var answer []byte
		if err == nil {
			answer, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control plane is not ready: %v %s; stderr %s", err, answer, srvErr)
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
	run("cli-provider-admin-1\n", "login", base, "--username", "admin", "--password-stdin")
	dir := t.TempDir()
	small, big := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "video.bin")
	smallData := []byte("hello from the CLI, over " + providerArgs[1] + "\n")
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
