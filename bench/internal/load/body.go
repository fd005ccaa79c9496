package load

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand/v2"
)

// castagnoli is the CRC-32C table: the checksum S3 clients use, computed by the CPU's own
// instruction where it has one, so checking costs the client little.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// noise returns n pseudo-random bytes. Bodies repeat them rather than zeros, so that no
// compression or deduplication on the way can flatter a server.
func noise(n int, seed byte) []byte {
	var s [32]byte
	s[0] = seed
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// stream is the body of a big object: its size in bytes of a 1 MiB noise block repeated,
// generated as it is read (no file, nothing buffered), with the CRC-32C of what was read.
type stream struct {
	block []byte
	left  int64
	off   int
	crc   uint32
}

func newStream(size int64) *stream { return &stream{block: noise(1<<20, 1), left: size} }

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && s.left > 0 {
		k := copy(p[n:min(int64(len(p)), int64(n)+s.left)], s.block[s.off:])
		s.off = (s.off + k) % len(s.block)
		s.left -= int64(k)
		n += k
	}
	s.crc = crc32.Update(s.crc, castagnoli, p[:n])
	return n, nil
}

// objects are the small scenario's bodies. Object n is a shared run of noise followed by n as
// 8 big-endian bytes (only the last size bytes of those when size < 8): every object's
// CRC-32C differs, so a server that answers with another object's bytes fails the check, yet
// no worker copies the noise, and an object's checksum costs one update of 8 bytes.
type objects struct {
	size   int64
	prefix []byte // the shared noise, size-8 bytes
	crc    uint32 // CRC-32C of prefix
}

func newObjects(size int64) *objects {
	o := &objects{size: size, prefix: noise(int(max(size-8, 0)), 2)}
	o.crc = crc32.Checksum(o.prefix, castagnoli)
	return o
}

// tail is the part of object n after the prefix.
func (o *objects) tail(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[8-min(o.size, 8):]
}

// body returns a reader of object n's bytes.
func (o *objects) body(n uint64) io.Reader {
	return io.MultiReader(bytes.NewReader(o.prefix), bytes.NewReader(o.tail(n)))
}

// sum is object n's CRC-32C.
func (o *objects) sum(n uint64) uint32 { return crc32.Update(o.crc, castagnoli, o.tail(n)) }
