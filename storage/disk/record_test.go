package disk

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"presign/storage"
)

func TestRecordRoundTrip(t *testing.T) {
	full := record{
		size:      5,
		seq:       1 << 40,
		modified:  time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		etag:      "5d41402abc4b2a76b9719d911017c592",
		meta:      storage.Metadata{ContentType: "a/b", Expires: "x", User: map[string]string{"k": "v", "": ""}},
		checksums: map[string]string{"SHA256": "abc=", "CRC32": "x=="},
	}
	file := full
	file.file = "0000000000000003aabbccddeeff001122334455"
	file.size = 1 << 33
	seg := full
	seg.seg, seg.off, seg.size = 1<<24|7, 1<<40, 70000
	tests := []struct {
		name   string
		rec    record
		inline []byte
	}{
		{"Empty", record{modified: time.Unix(0, 0).UTC()}, nil},
		{"InlineFull", full, []byte("hello")},
		{"File", file, nil},
		{"Segment", seg, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.rec.encode(nil, tc.inline)
			if len(enc) > tc.rec.encodedLen(len(tc.inline)) {
				t.Fatalf("encoded %d bytes, encodedLen promised at most %d", len(enc), tc.rec.encodedLen(len(tc.inline)))
			}
			got, inline, err := decodeRecord(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.rec) || !bytes.Equal(inline, tc.inline) {
				t.Fatalf("decoded %+v %q, want %+v %q", got, inline, tc.rec, tc.inline)
			}
			for cut := range len(enc) {
				if _, _, err := decodeRecord(enc[:cut]); err == nil && cut < len(enc)-len(tc.inline) {
					t.Fatalf("a record cut to %d of %d bytes decoded", cut, len(enc))
				}
			}
		})
	}
}

// FuzzDecodeRecord: no input makes decodeRecord panic, and whatever it accepts encodes to a
// record that decodes to the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add((&record{size: 3, etag: "e", meta: storage.Metadata{User: map[string]string{"a": "b"}}}).encode(nil, []byte("abc")))
	f.Add((&record{file: "0000000000000001aabbccddeeff001122334455", checksums: map[string]string{"CRC32": "AAAAAA=="}}).encode(nil, nil))
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add((&record{seg: 1 << 24, off: 123, size: 9, etag: "e"}).encode(nil, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, inline, err := decodeRecord(data)
		if err != nil {
			return
		}
		again, inline2, err := decodeRecord(rec.encode(nil, inline))
		if err != nil || !reflect.DeepEqual(again, rec) || !bytes.Equal(inline, inline2) {
			t.Fatalf("re-encoded record decodes differently (%v):\n%+v\n%+v", err, rec, again)
		}
	})
}
