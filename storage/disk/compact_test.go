package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"presign/storage"
)

// versioned is the content of version v of key: a header naming both, then bytes derived
// from them, 1 to 6 KiB in all (64 to 320 KiB for keys starting with "m:", which stream into
// their segment range), so that a reader tells a whole version from a torn one.
func versioned(key string, v int) []byte {
	hdr := fmt.Sprintf("%s@%d\n", key, v)
	seed := sha256.Sum256([]byte(hdr))
	n := 1<<10 + int(binary.BigEndian.Uint32(seed[:])%(5<<10))
	if strings.HasPrefix(key, "m:") {
		n = bufferedMax + int(binary.BigEndian.Uint32(seed[:])%(256<<10))
	}
	body := make([]byte, n)
	rand.NewChaCha8(seed).Read(body)
	return append([]byte(hdr), body...)
}

// parseVersioned returns the key and version a versioned content names, if it is whole.
func parseVersioned(data []byte) (string, int, bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return "", 0, false
	}
	at := bytes.LastIndexByte(data[:i], '@')
	if at < 0 {
		return "", 0, false
	}
	var v int
	if _, err := fmt.Sscan(string(data[at+1:i]), &v); err != nil {
		return "", 0, false
	}
	key := string(data[:at])
	return key, v, bytes.Equal(data, versioned(key, v))
}

// TestCompactionReclaimsDeadSegments overwrites and deletes most objects of many small
// segments; a pass moves what is live, removes the emptied segments, and every object still
// reads its last version.
func TestCompactionReclaimsDeadSegments(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{SegmentSize: 32 << 10}))
	const keys = 120
	want := make(map[string][]byte)
	for i := range keys {
		k := fmt.Sprint("k", i)
		want[k] = versioned(k, 0)
		putBytes(t, b, k, want[k])
	}
	for i := range keys {
		k := fmt.Sprint("k", i)
		switch i % 4 {
		case 0, 1:
			if _, err := b.DeleteObject(t.Context(), "b", k); err != nil {
				t.Fatal(err)
			}
			delete(want, k)
		case 2:
			want[k] = versioned(k, 1)
			putBytes(t, b, k, want[k])
		}
	}
	before := segmentIDs(t, b.dir)
	// The background compactor, woken by each sealed segment, may have done part of the work.
	st, err := b.compact(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after := segmentIDs(t, b.dir)
	t.Logf("%d segments before the pass, %d after; it moved %d entries (%d bytes) and removed %d segments", len(before), len(after), st.moved, st.movedBytes, st.retired)
	var total, live int64
	for _, id := range after {
		total += fileSize(t, b.segs.path(id))
		info, _ := segInfoOf(t, b, id)
		live += info.live
		if compactable(info) && b.segs.quiet(id) {
			t.Errorf("segment %x still compactable after a pass: %+v", id, info)
		}
	}
	if total > 3*live+(32<<10) {
		t.Errorf("after compaction the segments hold %d bytes for %d live", total, live)
	}
	for i := range keys {
		k := fmt.Sprint("k", i)
		if data, ok := want[k]; ok {
			if !bytes.Equal(readBytes(t, b, k), data) {
				t.Fatalf("%s does not read its last version after compaction", k)
			}
		} else {
			wantMissingKey(t, b, k)
		}
	}
	if st, err := b.compact(t.Context()); err != nil || st.moved != 0 {
		t.Fatalf("a second pass moved %d entries (%v); the first left nothing to do", st.moved, err)
	}
}

func wantMissingKey(t *testing.T, b *Backend, key string) {
	t.Helper()
	if _, err := b.HeadObject(t.Context(), "b", key); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("%s: %v, want ErrNoSuchKey", key, err)
	}
}

// TestReaderKeepsItsVersionWhileCompactionMovesIt opens an object, lets compaction move it and
// remove its segment, and reads the open object afterwards: the bytes it found are still
// there. A new GetObject finds the moved copy.
func TestReaderKeepsItsVersionWhileCompactionMovesIt(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{SegmentSize: 256 << 10}))
	// Larger than the small buffers: a copy of it would go through a descriptor of its own,
	// but the segment will be gone, so it is read through the handle the reader holds.
	pinned := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	putBytes(t, b, "pinned", pinned)
	for i := range 3 {
		putBytes(t, b, fmt.Sprint("filler", i), bytes.Repeat([]byte{byte(i)}, 50<<10))
	}
	putBytes(t, b, "later", bytes.Repeat([]byte("l"), 200<<10)) // seals the first segment
	first := segmentIDs(t, b.dir)[0]
	for i := range 3 {
		if _, err := b.DeleteObject(t.Context(), "b", fmt.Sprint("filler", i)); err != nil {
			t.Fatal(err)
		}
	}
	obj, err := b.GetObject(t.Context(), "b", "pinned")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := rc.Read(head); err != nil {
		t.Fatal(err)
	}
	st, err := b.compact(t.Context())
	if err != nil || st.moved != 1 || st.retired == 0 {
		t.Fatalf("compaction moved %d and removed %d segments (%v), want the pinned object moved and its segment removed", st.moved, st.retired, err)
	}
	if slices.Contains(segmentIDs(t, b.dir), first) {
		t.Fatal("the segment of the moved object is still on disk")
	}
	var rest bytes.Buffer
	if _, err := io.Copy(&rest, rc); err != nil {
		t.Fatalf("reading the open object after its segment was removed: %v", err)
	}
	if got := append(head, rest.Bytes()...); !bytes.Equal(got, pinned) {
		t.Fatal("the open object reads other bytes after compaction moved it")
	}
	rc.Close()
	if fd := openFDs(t, segmentName(first)); fd != 1 {
		t.Fatalf("%d descriptors of the removed segment open while the object is still open, want 1", fd)
	}
	obj.Close()
	if fd := openFDs(t, segmentName(first)); fd != 0 {
		t.Fatalf("%d descriptors of the removed segment still open after the reader closed", fd)
	}
	if got := readBytes(t, b, "pinned"); !bytes.Equal(got, pinned) {
		t.Fatal("the moved object reads other bytes")
	}
}

// openFDs counts the descriptors of this process open on a file whose name contains name.
func openFDs(t *testing.T, name string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(target, name) {
			n++
		}
	}
	return n
}

// TestCompactionUnderConcurrentReadsOverwritesDeletes runs writers that overwrite and delete
// their own keys, readers that check every version they get is whole and not older than the
// last one its writer had committed before the read began, and passes of compaction, all at
// once, over segments small enough to seal and compact many times.
func TestCompactionUnderConcurrentReadsOverwritesDeletes(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{SegmentSize: 24 << 10}))
	const writers, keysPer, rounds = 4, 8, 25
	// committed[w*keysPer+k] is the last version of key k of writer w acknowledged: -1 when
	// deleted, -2 before any put.
	var committed [writers * keysPer]atomic.Int64
	for i := range committed {
		committed[i].Store(-2)
	}
	keyOf := func(i int) string { return fmt.Sprintf("w%d/k%d", i/keysPer, i%keysPer) }
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for r := range rounds {
				for k := range keysPer {
					i := w*keysPer + k
					if rng.IntN(5) == 0 && committed[i].Load() >= 0 {
						if _, err := b.DeleteObject(t.Context(), "b", keyOf(i)); err != nil {
							errs <- fmt.Errorf("delete %s: %w", keyOf(i), err)
							return
						}
						committed[i].Store(-1)
						continue
					}
					data := versioned(keyOf(i), r)
					if _, err := b.PutObject(t.Context(), "b", keyOf(i), benchBody(data), storage.PutOptions{}); err != nil {
						errs <- fmt.Errorf("put %s: %w", keyOf(i), err)
						return
					}
					committed[i].Store(int64(r))
				}
			}
		})
	}
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 3 {
		readers.Go(func() {
			for !stop.Load() {
				i := rand.IntN(len(committed))
				floor := committed[i].Load()
				obj, err := b.GetObject(t.Context(), "b", keyOf(i))
				if errors.Is(err, storage.ErrNoSuchKey) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("get %s: %w", keyOf(i), err)
					return
				}
				data, err := readObject(t, obj)
				obj.Close()
				if err != nil {
					errs <- fmt.Errorf("read %s: %w", keyOf(i), err)
					return
				}
				key, v, whole := parseVersioned(data)
				if !whole || key != keyOf(i) || int64(v) < floor {
					errs <- fmt.Errorf("%s read %d bytes: whole %v, key %q, version %d, at least %d expected", keyOf(i), len(data), whole, key, v, floor)
					return
				}
				reads.Add(1)
			}
		})
	}
	var passes compactStats
	readers.Go(func() {
		for !stop.Load() {
			st, err := b.compact(t.Context())
			if err != nil {
				errs <- fmt.Errorf("compact: %w", err)
				return
			}
			passes.moved += st.moved
			passes.retired += st.retired
		}
	})
	wg.Wait()
	stop.Store(true)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	st, err := b.compact(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	passes.moved += st.moved
	passes.retired += st.retired
	t.Logf("%d reads checked; compaction moved %d entries and removed %d segments; %d segments left", reads.Load(), passes.moved, passes.retired, len(segmentIDs(t, b.dir)))
	if passes.retired == 0 {
		t.Fatal("compaction never removed a segment")
	}
	for i := range committed {
		switch v := committed[i].Load(); {
		case v < 0:
			wantMissingKey(t, b, keyOf(i))
		default:
			if got := readBytes(t, b, keyOf(i)); !bytes.Equal(got, versioned(keyOf(i), int(v))) {
				t.Fatalf("%s does not hold its last version %d", keyOf(i), v)
			}
		}
	}
}

func readObject(t *testing.T, obj storage.Object) ([]byte, error) {
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	return buf.Bytes(), err
}
