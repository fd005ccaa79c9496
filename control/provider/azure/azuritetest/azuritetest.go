// Package azuritetest starts Azurite, the Azure Storage emulator, for tests: its blob service on
// a free loopback port, in memory, with the well-known development account. Azurite checks every
// SAS like Azure does. It is installed by npm ci in control/provider/azure/testdata/azurite; a
// test that finds it missing goes through testenv.Missing.
package azuritetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"presign/internal/testenv"
)

// Azurite's development account, documented by Microsoft for the emulator.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Emulator is a running Azurite blob service.
type Emulator struct {
	// Endpoint is the account's blob service URL, http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	cmd      *exec.Cmd
	dir      string
}

// Start runs Azurite and waits until it answers HTTP (seconds: it is a Node.js program). Stop it
// with Stop; a package's tests usually share one, started on first use.
func Start() (*Emulator, error) {
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(here), "..", "testdata", "azurite", "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("azurite is not installed (cd control/provider/azure/testdata/azurite && npm ci): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", port, "--inMemoryPersistence", "--skipApiVersionCheck", "--silent")
	cmd.Dir = dir // Azurite writes its debug log beside it
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e := &Emulator{Endpoint: "http://" + addr + "/" + Account, cmd: cmd, dir: dir}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		// Any HTTP answer (400 to a bare GET) means the blob service is serving.
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return e, nil
		}
	}
	e.Stop()
	return nil, fmt.Errorf("azurite did not listen on %s", addr)
}

// Stop ends the emulator and removes its directory.
func (e *Emulator) Stop() {
	e.cmd.Process.Kill()
	e.cmd.Wait()
	os.RemoveAll(e.dir)
}

// Container creates a container of a fresh name and returns the name. With a nil emulator (its
// start failed with err) the test goes through testenv.Missing.
func (e *Emulator) Container(t testing.TB, err error) string {
	t.Helper()
	if e == nil {
		testenv.Missing(t, "Azurite: %v", err)
	}
	name := "t" + strings.ToLower(rand.Text())[:20]
	cred, cerr := container.NewSharedKeyCredential(Account, Key)
	if cerr != nil {
		t.Fatal(cerr)
	}
	cc, cerr := container.NewClientWithSharedKeyCredential(e.Endpoint+"/"+name, cred, nil)
	if cerr != nil {
		t.Fatal(cerr)
	}
	if _, cerr := cc.Create(context.Background(), nil); cerr != nil {
		t.Fatal(cerr)
	}
	return name
}
