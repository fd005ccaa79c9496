package disk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"presign/storage"
)

func putBytes(t *testing.T, b *Backend, key string, data []byte) storage.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(t.Context(), "b", key, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), storage.PutOptions{})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return info
}

func readBytes(t *testing.T, b *Backend, key string) []byte {
	t.Helper()
	obj, err := b.GetObject(t.Context(), "b", key)
	if err != nil {
		t.Fatalf("GetObject(%q): %v", key, err)
	}
	defer obj.Close()
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func withBucket(t testing.TB, b *Backend) *Backend {
	t.Helper()
	if err := b.CreateBucket(t.Context(), "b"); err != nil && !errors.Is(err, storage.ErrBucketExists) {
		t.Fatal(err)
	}
	return b
}

func TestReopenKeepsObjectsAndSequencerGrows(t *testing.T) {
	dir := t.TempDir()
	b := withBucket(t, openTest(t, Options{Dir: dir}))
	small, large := bytes.Repeat([]byte("s"), 100), bytes.Repeat([]byte("L"), DefaultSmallMax+300<<10)
	putBytes(t, b, "small", small)
	last := putBytes(t, b, "large", large)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, Options{Dir: dir})
	if !bytes.Equal(readBytes(t, b, "small"), small) || !bytes.Equal(readBytes(t, b, "large"), large) {
		t.Fatal("objects differ after reopening")
	}
	if info := putBytes(t, b, "small", large); info.Sequencer <= last.Sequencer {
		t.Fatalf("Sequencer after reopen %d, before %d: not growing", info.Sequencer, last.Sequencer)
	}
}

func TestOpenEmptiesTmp(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, Options{Dir: dir})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	os.WriteFile(filepath.Join(tmp, "0000000000000001aaaaaaaaaaaaaaaaaaaaaaaa"), []byte("half an upload"), 0o600)
	os.MkdirAll(filepath.Join(tmp, "stray", "dir"), 0o700)
	openTest(t, Options{Dir: dir})
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Fatalf("tmp/ after Open holds %d entries (%v)", len(left), err)
	}
}

// TestOpenRemovesOrphansOfEarlierRunsOnly plants the files a crash leaves in objects/ and
// checks that the start-up scan removes them, and nothing else.
func TestOpenRemovesOrphansOfEarlierRunsOnly(t *testing.T) {
	dir := t.TempDir()
	b := withBucket(t, openTest(t, Options{Dir: dir}))
	kept := bytes.Repeat([]byte("k"), DefaultSmallMax+1)
	putBytes(t, b, "kept", kept)
	prev := b.epoch
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	plant := func(epoch uint64, fanout string) string {
		id := fmt.Sprintf("%016x%s%s", epoch, fanout, "0123456789abcdef012345")
		os.MkdirAll(filepath.Join(dir, "objects", fanout), 0o750)
		if err := os.WriteFile(filepath.Join(dir, "objects", fanout, id), []byte("orphan"), 0o600); err != nil {
			t.Fatal(err)
		}
		return id
	}
	orphans := []string{plant(prev, "00"), plant(prev, "ff"), plant(1, "7e")}
	foreign := filepath.Join(dir, "objects", "00", "README")
	os.WriteFile(foreign, []byte("not ours"), 0o600)

	b = openTest(t, Options{Dir: dir})
	// A file of this run that no record names yet: a write between its rename and its commit.
	inFlight := plant(b.epoch, "42")
	<-b.scanDone
	b.removeOrphans(t.Context()) // once more, now certainly after inFlight was planted
	files := objectFiles(t, dir)
	for _, id := range orphans {
		if slices.Contains(files, id) {
			t.Errorf("orphan %s of an earlier run survived the scan", id)
		}
	}
	if !slices.Contains(files, inFlight) {
		t.Error("the scan removed a file of the running epoch")
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("the scan touched a file it did not name: %v", err)
	}
	if !bytes.Equal(readBytes(t, b, "kept"), kept) {
		t.Fatal("the scan damaged a referenced object")
	}
}

func TestReplacedAndDeletedFilesAreRemoved(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	large := bytes.Repeat([]byte("x"), DefaultSmallMax+1)
	putBytes(t, b, "k", large)
	putBytes(t, b, "k", append(large, 'y'))
	if n := len(objectFiles(t, b.dir)); n != 1 {
		t.Fatalf("after a replace objects/ holds %d files, want 1", n)
	}
	putBytes(t, b, "k", []byte("now in a segment"))
	if n := len(objectFiles(t, b.dir)); n != 0 {
		t.Fatalf("after replacing by a small object objects/ holds %d files, want 0", n)
	}
	putBytes(t, b, "k", large)
	if _, err := b.DeleteObject(t.Context(), "b", "k"); err != nil {
		t.Fatal(err)
	}
	if n := len(objectFiles(t, b.dir)); n != 0 {
		t.Fatalf("after a delete objects/ holds %d files, want 0", n)
	}
}

func TestSecondOpenOfADirectoryFails(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	b, err := Open(t.Context(), Options{Dir: dir, LockTimeout: 50 * time.Millisecond})
	if err == nil {
		b.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
}

func TestClosedBackendRefusesCalls(t *testing.T) {
	b := withBucket(t, openTest(t, Options{}))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	_, err := b.PutObject(t.Context(), "b", "k", storage.NewBody(bytes.NewReader(nil), storage.BodyOptions{Size: 0}), storage.PutOptions{})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("PutObject after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Consume(t.Context(), "n", time.Now().Add(time.Hour)); !errors.Is(err, ErrClosed) {
		t.Errorf("Consume after Close: %v, want ErrClosed", err)
	}
	if _, err := b.ListObjects(t.Context(), "b", storage.ListOptions{MaxKeys: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("ListObjects after Close: %v, want ErrClosed", err)
	}
}
