package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWriterIsWALWithFullSync checks the settings that make a returned change durable: the
// writer connection runs in WAL mode with synchronous=FULL (2), and enforces foreign keys.
func TestWriterIsWALWithFullSync(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode string
	var sync, fk int
	err = s.w.do(context.Background(), func(x *tx) error {
		if err := x.queryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			return err
		}
		if err := x.queryRow("PRAGMA synchronous").Scan(&sync); err != nil {
			return err
		}
		return x.queryRow("PRAGMA foreign_keys").Scan(&fk)
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || fk != 1 {
		t.Fatalf("journal_mode=%s synchronous=%d foreign_keys=%d, want wal, 2, 1", mode, sync, fk)
	}
}
