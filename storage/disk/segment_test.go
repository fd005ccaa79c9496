package disk

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// makeEntry encodes the entry of data at bucket/key.
func makeEntry(bucket, key string, data []byte) []byte {
	buf := make([]byte, entryPrefixLen(bucket, key)+len(data))
	copy(buf[entryPrefixLen(bucket, key):], data)
	sealEntry(buf, bucket, key)
	return buf
}

// scanAll returns every entry of seg up to limit, and how many bytes the scan skipped.
func scanAll(t testing.TB, seg []byte, limit int64) ([]entry, int64) {
	t.Helper()
	sc := newEntryScanner(bytes.NewReader(seg), limit)
	var out []entry
	for {
		e, err := sc.next()
		if errors.Is(err, errScanEnd) {
			return out, sc.skipped
		}
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, e)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, tc := range []struct{ bucket, key, data string }{
		{"b", "k", ""},
		{"bucket", "a/b/../c d", "hello"},
		{strings.Repeat("b", 255), strings.Repeat("k", MaxKeyLen), strings.Repeat("x", 70000)},
	} {
		raw := makeEntry(tc.bucket, tc.key, []byte(tc.data))
		n, ok := parseEntryHeader(raw)
		if !ok || n != int64(len(raw)) {
			t.Fatalf("header of a %d-byte entry: %d, %v", len(raw), n, ok)
		}
		seg := append(bytes.Repeat([]byte{0}, 100), raw...)
		got, _ := scanAll(t, seg, int64(len(seg)))
		if len(got) != 1 {
			t.Fatalf("scanned %d entries, want 1", len(got))
		}
		e := got[0]
		if e.bucket != tc.bucket || e.key != tc.key || e.size != int64(len(tc.data)) || e.pos != 100 ||
			string(seg[e.dataOff():e.dataOff()+e.size]) != tc.data || e.length() != int64(len(raw)) {
			t.Fatalf("scanned %q %q %d bytes at %d", e.bucket, e.key, e.size, e.pos)
		}
		for i := 4; i < len(raw); i += max(1, len(raw)/7) {
			bad := bytes.Clone(raw)
			bad[i] ^= 0x40
			if got, _ := scanAll(t, bad, int64(len(bad))); len(got) != 0 {
				t.Fatalf("an entry with byte %d flipped was scanned", i)
			}
		}
	}
}

// TestScannerFindsEveryEntryPastGarbage builds a segment with the stretches a crash or a
// failed write leaves (a hole of zeros, a torn entry, random bytes, a false magic, user data
// that contains an entry) and checks that the scan returns exactly the real entries.
func TestScannerFindsEveryEntryPastGarbage(t *testing.T) {
	var seg bytes.Buffer
	var want []int64
	add := func(key string, data []byte) {
		want = append(want, int64(seg.Len()))
		seg.Write(makeEntry("b", key, data))
	}
	add("first", []byte("one"))
	seg.Write(make([]byte, 5000)) // a range reserved by a writer that never wrote it
	add("after-hole", bytes.Repeat([]byte("h"), 3000))
	torn := makeEntry("b", "torn", bytes.Repeat([]byte("t"), 9000))
	seg.Write(torn[:4000]) // a write cut short
	add("after-torn", []byte("x"))
	seg.Write([]byte("PSG1 not really an entry PSG1PSG1"))
	// An object whose bytes hold a whole entry: the scan returns the outer one only, since
	// it does not look inside an entry it parsed.
	add("outer", append(append([]byte("prefix"), makeEntry("b", "inner", []byte("fake"))...), "suffix"...))
	add("big", bytes.Repeat([]byte("z"), 3*scanWindow+5)) // streamed through its CRC
	seg.Write(makeEntry("b", "big-torn", make([]byte, 2*scanWindow))[:scanWindow+100])
	add("after-big-torn", []byte("y"))
	add("last", []byte("end"))
	got, skipped := scanAll(t, seg.Bytes(), int64(seg.Len()))
	var pos []int64
	for _, e := range got {
		pos = append(pos, e.pos)
	}
	if fmt.Sprint(pos) != fmt.Sprint(want) {
		t.Fatalf("entries at %v, want %v", pos, want)
	}
	if want := int64(5000 + 4000 + 33 + scanWindow + 100); skipped != want {
		t.Errorf("skipped %d bytes, want %d", skipped, want)
	}
	// A limit inside an entry ends the scan before it.
	cut, _ := scanAll(t, seg.Bytes(), want[len(want)-1]+10)
	if len(cut) != len(want)-1 {
		t.Fatalf("with the limit inside the last entry, %d entries, want %d", len(cut), len(want)-1)
	}
	// A file shorter than the limit (a tail lost) ends the scan at its end.
	short, _ := scanAll(t, seg.Bytes()[:want[2]+20], int64(seg.Len()))
	if len(short) != 2 {
		t.Fatalf("in a file cut inside the third entry, %d entries, want 2", len(short))
	}
}

// FuzzScanSegment: no segment content makes the scan panic or loop, and every entry it returns
// is exactly the bytes at its position, in order, without overlap.
func FuzzScanSegment(f *testing.F) {
	f.Add(makeEntry("b", "k", []byte("data")), int64(100))
	f.Add(append(makeEntry("b", "k1", nil), append([]byte("PSG1xxxx"), makeEntry("bb", "k2", []byte("v"))...)...), int64(1000))
	f.Add(append(make([]byte, 40), makeEntry("b", "k", make([]byte, 300))...), int64(50))
	f.Fuzz(func(t *testing.T, seg []byte, limit int64) {
		if limit < 0 || limit > 1<<30 {
			return
		}
		got, _ := scanAll(t, seg, limit)
		next := int64(0)
		for _, e := range got {
			end := e.pos + e.length()
			if e.pos < next || end > limit || end > int64(len(seg)) {
				t.Fatalf("entry at %d (%d bytes) overlaps the one before or passes the limit %d", e.pos, e.length(), limit)
			}
			if !bytes.Equal(makeEntry(e.bucket, e.key, seg[e.dataOff():end]), seg[e.pos:end]) {
				t.Fatalf("entry at %d is not the segment's bytes", e.pos)
			}
			next = end
		}
	})
}

func TestSegInfoRoundTrip(t *testing.T) {
	for _, in := range []segInfo{{}, {end: 100, live: 40}, {end: 1 << 40, live: 1 << 40}} {
		got, err := decodeSegInfo(in.encode())
		if err != nil || got != in {
			t.Fatalf("%+v decodes to %+v, %v", in, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {2, 0, 0}, {1, 5, 6}, {1, 5}, {1, 5, 1, 0}} {
		if _, err := decodeSegInfo(bad); err == nil {
			t.Errorf("decodeSegInfo(%v) accepted", bad)
		}
	}
}

// FuzzDecodeSegInfo: no input makes decodeSegInfo panic, and what it accepts re-encodes to
// itself.
func FuzzDecodeSegInfo(f *testing.F) {
	f.Add(segInfo{end: 300, live: 200}.encode())
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := decodeSegInfo(data)
		if err != nil {
			return
		}
		if again, err := decodeSegInfo(info.encode()); err != nil || again != info || info.live > info.end {
			t.Fatalf("%x decodes to %+v, which re-decodes to %+v (%v)", data, info, again, err)
		}
	})
}

func TestSegmentNames(t *testing.T) {
	for _, id := range []uint64{1, 1<<24 | 5, 1<<63 + 7} {
		if got, ok := parseSegmentName(segmentName(id)); !ok || got != id {
			t.Errorf("segment %x: name %s parses to %x, %v", id, segmentName(id), got, ok)
		}
	}
	for _, name := range []string{"0000000000000000.seg", "00000000000000001.seg", "000000000000000g.seg", "0000000000000001", "0000000000000001.seg.tmp", "000000000000000A.seg"} {
		if _, ok := parseSegmentName(name); ok {
			t.Errorf("parseSegmentName(%q) accepted", name)
		}
	}
}
