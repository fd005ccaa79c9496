package load

import (
	"bytes"
	"hash/crc32"
	"io"
	"testing"
)

// oddReader reads in pieces of varying, awkward sizes.
type oddReader struct {
	r io.Reader
	i int
}

func (o *oddReader) Read(p []byte) (int, error) {
	o.i++
	return o.r.Read(p[:min(len(p), 1+o.i*7919%300_000)])
}

func TestStreamIsTheBlockRepeatedAndKnowsItsChecksum(t *testing.T) {
	for _, size := range []int64{0, 1, 1 << 20, 3<<20 + 12345} {
		s := newStream(size)
		got, err := io.ReadAll(&oddReader{r: s})
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat(s.block, int(size>>20)+1)[:size]
		if !bytes.Equal(got, want) {
			t.Errorf("size %d: %d bytes that are not the block repeated", size, len(got))
		}
		if s.crc != crc32.Checksum(got, castagnoli) {
			t.Errorf("size %d: stream CRC %08x, bytes' CRC %08x", size, s.crc, crc32.Checksum(got, castagnoli))
		}
	}
}

func TestObjectsHaveTheirSizeAndDistinctChecksums(t *testing.T) {
	for _, size := range []int64{1, 7, 8, 9, 4096} {
		o := newObjects(size)
		seen := map[uint32]uint64{}
		for n := uint64(1); n <= 200; n++ {
			b, err := io.ReadAll(o.body(n))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != size {
				t.Fatalf("size %d: object %d has %d bytes", size, n, len(b))
			}
			sum := o.sum(n)
			if sum != crc32.Checksum(b, castagnoli) {
				t.Fatalf("size %d: object %d: sum %08x, bytes' CRC %08x", size, n, sum, crc32.Checksum(b, castagnoli))
			}
			if m, dup := seen[sum]; dup {
				t.Fatalf("size %d: objects %d and %d have the same CRC-32C", size, m, n)
			}
			seen[sum] = n
		}
	}
}
