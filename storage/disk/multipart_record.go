package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"presign/storage"
)

// The index entries of multipart uploads. Like object records they start with a version
// byte, use the str and map encodings of record.go, and are parsed by a decoder that fails on
// any malformed input.

const (
	uploadVersion = 1
	partVersion   = 1
	memoVersion   = 1
)

// upload is the entry of an upload in progress, under uploads/<bucket>/<key> NUL <id>:
//
//	version byte | varint initiated (unix ns) | str checksum algorithm | str checksum type
//	| uvarint max size | str content-type, -encoding, -disposition, -language, cache-control,
//	expires | uvarint n, n × (str, str) user metadata
type upload struct {
	initiated time.Time
	opts      storage.MultipartOptions
}

func (u *upload) encode() []byte {
	dst := []byte{uploadVersion}
	dst = binary.AppendVarint(dst, u.initiated.UnixNano())
	dst = appendStr(dst, u.opts.ChecksumAlgorithm)
	dst = appendStr(dst, u.opts.ChecksumType)
	dst = binary.AppendUvarint(dst, uint64(max(u.opts.MaxSize, 0)))
	return appendMeta(dst, &u.opts.Meta)
}

func decodeUpload(buf []byte) (upload, error) {
	d := decoder{buf: buf}
	var u upload
	if d.byte() != uploadVersion {
		return upload{}, errCorrupt
	}
	u.initiated = time.Unix(0, d.varint()).UTC()
	u.opts.ChecksumAlgorithm = d.str()
	u.opts.ChecksumType = d.str()
	maxSize := d.uvarint()
	d.meta(&u.opts.Meta)
	if d.bad || len(d.buf) != 0 || maxSize > 1<<62 {
		return upload{}, errCorrupt
	}
	u.opts.MaxSize = int64(maxSize)
	return u, nil
}

// info is the MultipartUpload of u.
func (u *upload) info(bucket, key, id string) storage.MultipartUpload {
	return storage.MultipartUpload{Bucket: bucket, Key: key, UploadID: id, Initiated: u.initiated, MultipartOptions: u.opts}
}

// part is the entry of a stored part, under parts/<upload id>/<number, 2 bytes big endian>:
//
//	version byte | uvarint size | 16 bytes MD5 | varint modified (unix ns) | 20 bytes file id
//	| uvarint n, n × (str algorithm, str value) checksums
type part struct {
	size      int64
	md5       [16]byte
	modified  time.Time
	file      string
	checksums map[string]string
}

func (p *part) encode() []byte {
	dst := make([]byte, 0, 64+len(p.checksums)*64)
	dst = append(dst, partVersion)
	dst = binary.AppendUvarint(dst, uint64(p.size))
	dst = append(dst, p.md5[:]...)
	dst = binary.AppendVarint(dst, p.modified.UnixNano())
	dst = appendFileID(dst, p.file)
	return appendMap(dst, p.checksums)
}

func decodePart(buf []byte) (part, error) {
	d := decoder{buf: buf}
	var p part
	if d.byte() != partVersion {
		return part{}, errCorrupt
	}
	size := d.uvarint()
	if len(d.buf) < 16 {
		return part{}, errCorrupt
	}
	copy(p.md5[:], d.buf)
	d.buf = d.buf[16:]
	p.modified = time.Unix(0, d.varint()).UTC()
	if len(d.buf) < rawFileIDLen {
		return part{}, errCorrupt
	}
	p.file = hex.EncodeToString(d.buf[:rawFileIDLen])
	d.buf = d.buf[rawFileIDLen:]
	p.checksums = d.strMap()
	if d.bad || len(d.buf) != 0 || size > 1<<62 {
		return part{}, errCorrupt
	}
	p.size = int64(size)
	return p, nil
}

func (p *part) info(number int) storage.PartInfo {
	return storage.PartInfo{Number: number, Size: p.size, ETag: hex.EncodeToString(p.md5[:]), LastModified: p.modified, Checksums: p.checksums}
}

// memo is what remains of a completed upload for a while, under completed/<upload id>, so
// that a retried completion gets the first one's answer:
//
//	version byte | str bucket | str key | 32 bytes digest of the part list | varint completed
//	(unix ns) | the object's record as completed, without its tail
type memo struct {
	bucket, key string
	digest      [32]byte
	completed   time.Time
	object      record
}

func (m *memo) encode() []byte {
	dst := []byte{memoVersion}
	dst = appendStr(dst, m.bucket)
	dst = appendStr(dst, m.key)
	dst = append(dst, m.digest[:]...)
	dst = binary.AppendVarint(dst, m.completed.UnixNano())
	return m.object.encode(dst, nil)
}

func decodeMemo(buf []byte) (memo, error) {
	d := decoder{buf: buf}
	var m memo
	if d.byte() != memoVersion {
		return memo{}, errCorrupt
	}
	m.bucket = d.str()
	m.key = d.str()
	if len(d.buf) < 32 {
		return memo{}, errCorrupt
	}
	copy(m.digest[:], d.buf)
	d.buf = d.buf[32:]
	m.completed = time.Unix(0, d.varint()).UTC()
	if d.bad {
		return memo{}, errCorrupt
	}
	rec, _, err := decodeRecord(d.buf)
	if err != nil {
		return memo{}, err
	}
	m.object = rec
	return m, nil
}

// partListDigest identifies a completion request by its part numbers and ETags.
func partListDigest(parts []storage.CompletePart) [32]byte {
	h := sha256.New()
	var n [2]byte
	for _, p := range parts {
		binary.BigEndian.PutUint16(n[:], uint16(p.Number))
		h.Write(n[:])
		h.Write([]byte(p.ETag))
		h.Write([]byte{0})
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// uploadKey is the key of an upload under uploads/<bucket>: the object key, NUL, the upload
// id. Object keys hold no NUL, so these keys sort by object key and then by upload id, which
// begins with the initiation time: the order ListMultipartUploads reports.
func uploadKey(key, id string) []byte {
	k := make([]byte, 0, len(key)+1+len(id))
	k = append(k, key...)
	k = append(k, 0)
	return append(k, id...)
}

// splitUploadKey is the inverse of uploadKey.
func splitUploadKey(k []byte) (key, id string, ok bool) {
	i := bytes.LastIndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

// partKey is the key of part number n under parts/<upload id>.
func partKey(n int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(n))
}

// appendMeta appends the fields of m in the order of record.encode.
func appendMeta(dst []byte, m *storage.Metadata) []byte {
	for _, s := range [...]string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage, m.CacheControl, m.Expires} {
		dst = appendStr(dst, s)
	}
	return appendMap(dst, m.User)
}

// meta reads what appendMeta wrote.
func (d *decoder) meta(m *storage.Metadata) {
	for _, s := range [...]*string{&m.ContentType, &m.ContentEncoding, &m.ContentDisposition, &m.ContentLanguage, &m.CacheControl, &m.Expires} {
		*s = d.str()
	}
	m.User = d.strMap()
}
