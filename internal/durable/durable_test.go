package durable_test

import (
	"os"
	"path/filepath"
	"testing"

	"presign/internal/durable"
	"presign/internal/testenv/powercut"
)

// TestEntriesSurviveAPowerCut: what MkdirAll creates, and a file whose parent SyncParent
// synced, are still there after a power cut; os.MkdirAll's directories are not.
func TestEntriesSurviveAPowerCut(t *testing.T) {
	pc := powercut.Start(t)
	deep := filepath.Join(pc.Dir, "a", "b", "c")
	if err := durable.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(deep, "f")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("kept"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := durable.SyncParent(file); err != nil {
		t.Fatal(err)
	}
	if err := durable.MkdirAll(deep, 0o755); err != nil {
		t.Fatalf("MkdirAll of an existing directory: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(pc.Dir, "plain", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := pc.Cut(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != "kept" {
		t.Fatalf("after the cut: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(pc.Dir, "plain")); err == nil {
		t.Fatal("a directory os.MkdirAll made survived the cut: the file system is not cutting")
	}
}
