package disk

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"time"

	"presign/storage"
)

// record is an object's index entry. Its encoding:
//
//	version byte (2) | kind byte | uvarint size | uvarint sequencer | varint modified (unix ns)
//	| str etag | (kind file: str file id) | (kind segment: uvarint segment id, uvarint offset
//	of the data) | str content-type, -encoding, -disposition,
//	-language, cache-control, expires | uvarint n, n × (str name, str value) user metadata
//	| uvarint n, n × (str algorithm, str value) checksums | tail
//
// where str is a uvarint length and the bytes, and the tail is, for kind inline, the object's
// bytes; for kind multipart, the files whose concatenation is the object (see appendPieces);
// for kind file and kind segment, nothing. Map entries are written in sorted order, so equal
// records encode equally. Version 1 is the same without kinds multipart and segment: such
// records are still read, and every record is written as version 2. Kind inline is no longer
// written for objects with bytes (they go to segments), but stores written before keep theirs,
// and they read as before.
//
// The tail comes last so that decoding a record for a listing or a HEAD never walks the part
// list of a multipart object, which may name 10,000 files.
type record struct {
	size      int64
	seq       uint64
	modified  time.Time
	etag      string
	file      string // id of the file holding the bytes; empty when they are elsewhere
	multipart bool   // the bytes are the concatenation of the files listed in the tail
	seg       uint64 // segment holding the bytes (kind segment), else 0
	off       int64  // offset of the bytes in segment seg
	meta      storage.Metadata
	checksums map[string]string
}

const (
	recordVersion   = 2
	recordVersionV1 = 1
	kindInline      = 0
	kindFile        = 1
	kindMultipart   = 2
	kindSegment     = 3
)

var errCorrupt = errors.New("disk: corrupt index record")

// encode appends r and its tail (the bytes of an inline record, the pieces of a multipart
// one) to dst.
func (r *record) encode(dst, tail []byte) []byte {
	kind := byte(kindInline)
	switch {
	case r.file != "":
		kind = kindFile
	case r.multipart:
		kind = kindMultipart
	case r.seg != 0:
		kind = kindSegment
	}
	dst = append(dst, recordVersion, kind)
	dst = binary.AppendUvarint(dst, uint64(r.size))
	dst = binary.AppendUvarint(dst, r.seq)
	dst = binary.AppendVarint(dst, r.modified.UnixNano())
	dst = appendStr(dst, r.etag)
	switch kind {
	case kindFile:
		dst = appendStr(dst, r.file)
	case kindSegment:
		dst = binary.AppendUvarint(dst, r.seg)
		dst = binary.AppendUvarint(dst, uint64(r.off))
	}
	m := &r.meta
	for _, s := range [...]string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage, m.CacheControl, m.Expires} {
		dst = appendStr(dst, s)
	}
	dst = appendMap(dst, m.User)
	dst = appendMap(dst, r.checksums)
	return append(dst, tail...)
}

// encodedLen is an upper bound of len(r.encode(nil, tail)) for a tail of the given length,
// to allocate once.
func (r *record) encodedLen(tail int) int {
	n := 2 + 3*binary.MaxVarintLen64 + 4*binary.MaxVarintLen64 + len(r.etag) + len(r.file)
	m := &r.meta
	for _, s := range [...]string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage, m.CacheControl, m.Expires} {
		n += binary.MaxVarintLen64 + len(s)
	}
	for _, mp := range []map[string]string{m.User, r.checksums} {
		n += binary.MaxVarintLen64
		for k, v := range mp {
			n += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
	}
	return n + tail
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendMap(dst []byte, m map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		dst = appendStr(dst, k)
		dst = appendStr(dst, m[k])
	}
	return dst
}

// decodeRecord parses an encoded record. tail (the bytes of an inline record, the pieces of
// a multipart one) aliases buf (for a bbolt value, valid only in its transaction); every
// string of r is a copy. The pieces are checked only when parsed (parsePieces).
func decodeRecord(buf []byte) (r record, tail []byte, err error) {
	d := decoder{buf: buf}
	version := d.byte()
	if version != recordVersion && version != recordVersionV1 {
		return record{}, nil, errCorrupt
	}
	kind := d.byte()
	size := d.uvarint()
	r.seq = d.uvarint()
	r.modified = time.Unix(0, d.varint()).UTC()
	r.etag = d.str()
	switch kind {
	case kindFile:
		r.file = d.str()
		if !validFileID(r.file) {
			d.fail()
		}
	case kindInline:
	case kindMultipart:
		r.multipart = version >= 2
		if !r.multipart {
			d.fail()
		}
	case kindSegment:
		r.seg, r.off = d.uvarint(), int64(d.uvarint())
		if version < 2 || r.seg == 0 || r.off < 0 {
			d.fail()
		}
	default:
		d.fail()
	}
	m := &r.meta
	for _, s := range [...]*string{&m.ContentType, &m.ContentEncoding, &m.ContentDisposition, &m.ContentLanguage, &m.CacheControl, &m.Expires} {
		*s = d.str()
	}
	m.User = d.strMap()
	r.checksums = d.strMap()
	if d.bad || size > 1<<62 {
		return record{}, nil, errCorrupt
	}
	r.size = int64(size)
	switch kind {
	case kindInline:
		tail = d.buf
		if int64(len(tail)) != r.size {
			return record{}, nil, errCorrupt
		}
	case kindMultipart:
		tail = d.buf
	default:
		if len(d.buf) != 0 {
			return record{}, nil, errCorrupt
		}
	}
	return r, tail, nil
}

// decoder reads the parts of a record; after the first error it yields zero values and bad.
type decoder struct {
	buf []byte
	bad bool
}

func (d *decoder) fail() { d.bad, d.buf = true, nil }

func (d *decoder) byte() byte {
	if len(d.buf) == 0 {
		d.fail()
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) strMap() map[string]string {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	if n > uint64(len(d.buf))/2 { // each entry takes at least two bytes
		d.fail()
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	if d.bad {
		return nil
	}
	return m
}

// info is the ObjectInfo of r at bucket/key.
func (r *record) info(bucket, key string) storage.ObjectInfo {
	return storage.ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		Size:         r.size,
		ETag:         r.etag,
		LastModified: r.modified,
		Meta:         r.meta,
		Checksums:    r.checksums,
		Sequencer:    r.seq,
	}
}

// validFileID reports whether s has the shape of a name made by newFileID.
func validFileID(s string) bool {
	if len(s) != fileIDLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// piece is one file of a multipart object: its id and how many bytes of the object it holds.
type piece struct {
	file string
	size int64
}

// rawFileIDLen is the length of a file id as bytes (a name made by newFileID is their hex).
const rawFileIDLen = fileIDLen / 2

// appendPieces appends the tail of a multipart record: uvarint n, then n × (the file id as
// 20 raw bytes, uvarint size). Raw ids halve the record of a 10,000-part object.
func appendPieces(dst []byte, pieces []piece) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(pieces)))
	for _, s := range pieces {
		dst = appendFileID(dst, s.file)
		dst = binary.AppendUvarint(dst, uint64(s.size))
	}
	return dst
}

// appendFileID appends the 20 bytes whose hex is id, a name made by newFileID.
func appendFileID(dst []byte, id string) []byte {
	out, err := hex.AppendDecode(dst, []byte(id))
	if err != nil || len(out)-len(dst) != rawFileIDLen {
		panic("disk: file id " + id + " is not a name made by newFileID")
	}
	return out
}

// piecesLen is an upper bound of the length appendPieces adds for n pieces.
func piecesLen(n int) int {
	return binary.MaxVarintLen64 + n*(rawFileIDLen+binary.MaxVarintLen64)
}

// parsePieces decodes the tail of a multipart record of size bytes; the sizes must add up.
func parsePieces(tail []byte, size int64) ([]piece, error) {
	d := decoder{buf: tail}
	n := d.uvarint()
	if n > uint64(len(d.buf))/(rawFileIDLen+1) {
		return nil, errCorrupt
	}
	pieces := make([]piece, 0, n)
	var total int64
	for range n {
		if len(d.buf) < rawFileIDLen {
			return nil, errCorrupt
		}
		id := hex.EncodeToString(d.buf[:rawFileIDLen])
		d.buf = d.buf[rawFileIDLen:]
		sz := d.uvarint()
		if d.bad || sz > 1<<62 {
			return nil, errCorrupt
		}
		total += int64(sz)
		pieces = append(pieces, piece{file: id, size: int64(sz)})
	}
	if d.bad || len(d.buf) != 0 || total != size {
		return nil, errCorrupt
	}
	return pieces, nil
}

// files returns the ids of every file r's bytes are in; tail is the one decodeRecord returned.
func (r *record) files(tail []byte) ([]string, error) {
	switch {
	case r.file != "":
		return []string{r.file}, nil
	case r.multipart:
		pieces, err := parsePieces(tail, r.size)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(pieces))
		for i, s := range pieces {
			ids[i] = s.file
		}
		return ids, nil
	}
	return nil, nil
}
