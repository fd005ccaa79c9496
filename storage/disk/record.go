package disk

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"time"

	"presign/storage"
)

// record is an object's index entry. Its encoding:
//
//	version byte (1) | kind byte | uvarint size | uvarint sequencer | varint modified (unix ns)
//	| str etag | (kind file: str file id) | str content-type, -encoding, -disposition,
//	-language, cache-control, expires | uvarint n, n × (str name, str value) user metadata
//	| uvarint n, n × (str algorithm, str value) checksums | (kind inline: the object's bytes)
//
// where str is a uvarint length and the bytes. Map entries are written in sorted order, so
// equal records encode equally.
type record struct {
	size      int64
	seq       uint64
	modified  time.Time
	etag      string
	file      string // id of the file holding the bytes; empty when they are inline
	meta      storage.Metadata
	checksums map[string]string
}

const (
	recordVersion = 1
	kindInline    = 0
	kindFile      = 1
)

var errCorrupt = errors.New("disk: corrupt index record")

// encode appends r and, for an inline record, its bytes to dst.
func (r *record) encode(dst, inline []byte) []byte {
	kind := byte(kindInline)
	if r.file != "" {
		kind = kindFile
	}
	dst = append(dst, recordVersion, kind)
	dst = binary.AppendUvarint(dst, uint64(r.size))
	dst = binary.AppendUvarint(dst, r.seq)
	dst = binary.AppendVarint(dst, r.modified.UnixNano())
	dst = appendStr(dst, r.etag)
	if r.file != "" {
		dst = appendStr(dst, r.file)
	}
	m := &r.meta
	for _, s := range [...]string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage, m.CacheControl, m.Expires} {
		dst = appendStr(dst, s)
	}
	dst = appendMap(dst, m.User)
	dst = appendMap(dst, r.checksums)
	return append(dst, inline...)
}

// encodedLen is an upper bound of len(r.encode(nil, inline)), to allocate once.
func (r *record) encodedLen(inline int) int {
	n := 2 + 3*binary.MaxVarintLen64 + 2*binary.MaxVarintLen64 + len(r.etag) + len(r.file)
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
	return n + inline
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

// decodeRecord parses an encoded record. inline aliases buf (for a bbolt value, valid only
// in its transaction); every string of r is a copy.
func decodeRecord(buf []byte) (r record, inline []byte, err error) {
	d := decoder{buf: buf}
	if d.byte() != recordVersion {
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
	if kind == kindInline {
		inline = d.buf
		if int64(len(inline)) != r.size {
			return record{}, nil, errCorrupt
		}
	} else if len(d.buf) != 0 {
		return record{}, nil, errCorrupt
	}
	return r, inline, nil
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
