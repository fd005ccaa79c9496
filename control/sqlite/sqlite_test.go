package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"presign/control"
	"presign/control/sqlite"
	"presign/control/storetest"
)

// fresh makes a database file in t's temporary directory; every open is another Store on it.
func fresh(t testing.TB) func() control.Store {
	path := filepath.Join(t.TempDir(), "control.db")
	return func() control.Store {
		t.Helper()
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, fresh)
}

func BenchmarkCreateUpload(b *testing.B) {
	storetest.BenchmarkCreateUpload(b, fresh)
}

func BenchmarkTicketWrites(b *testing.B) {
	storetest.BenchmarkTicketWrites(b, fresh)
}
