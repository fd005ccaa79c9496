package azure_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"presign/control/provider/azure"
	"presign/internal/testenv"
)

// Azurite's well-known development account (documented by Microsoft for the emulator).
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azurite is the emulator the package's tests share: started on first use (it takes seconds
// to start), stopped by TestMain.
var azurite struct {
	once     sync.Once
	cmd      *exec.Cmd
	endpoint string // http://127.0.0.1:port/devstoreaccount1
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if azurite.cmd != nil {
		azurite.cmd.Process.Kill()
		azurite.cmd.Wait()
	}
	os.Exit(code)
}

// startAzurite runs the blob service of the Azurite installed under testdata/azurite (npm ci)
// on a free loopback port, in memory, and waits until it answers.
func startAzurite() (string, error) {
	bin, err := filepath.Abs("testdata/azurite/node_modules/.bin/azurite-blob")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("azurite is not installed (cd control/provider/azure/testdata/azurite && npm ci): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--inMemoryPersistence", "--skipApiVersionCheck", "--silent")
	cmd.Dir = dir // Azurite writes its debug log and extent files beside it
	if err := cmd.Start(); err != nil {
		return "", err
	}
	azurite.cmd = cmd
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr + "/" + devAccount, nil
		}
	}
	return "", fmt.Errorf("azurite did not listen on %s", addr)
}

// newContainer returns a provider on a fresh container of the shared Azurite.
func newContainer(t *testing.T) (*azure.Provider, string) {
	t.Helper()
	azurite.once.Do(func() { azurite.endpoint, azurite.err = startAzurite() })
	if azurite.err != nil {
		testenv.Missing(t, "Azurite: %v", azurite.err)
	}
	name := "t" + strings.ToLower(rand.Text())[:20]
	cred, err := container.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := container.NewClientWithSharedKeyCredential(azurite.endpoint+"/"+name, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	p, err := azure.New(azure.Config{Account: devAccount, Key: devKey, Container: name, Endpoint: azurite.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return p, name
}
