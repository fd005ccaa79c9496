package azure_test

import (
	"os"
	"sync"
	"testing"

	"presign/control/provider/azure"
	"presign/control/provider/azure/azuritetest"
)

// azurite is the emulator the package's tests share: started on first use, stopped by TestMain.
var azurite struct {
	once sync.Once
	emu  *azuritetest.Emulator
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if azurite.emu != nil {
		azurite.emu.Stop()
	}
	os.Exit(code)
}

// newContainer returns a provider on a fresh container of the shared Azurite.
func newContainer(t *testing.T) (*azure.Provider, string) {
	t.Helper()
	azurite.once.Do(func() { azurite.emu, azurite.err = azuritetest.Start() })
	name := azurite.emu.Container(t, azurite.err)
	p, err := azure.New(azure.Config{Account: azuritetest.Account, Key: azuritetest.Key, Container: name, Endpoint: azurite.emu.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return p, name
}
