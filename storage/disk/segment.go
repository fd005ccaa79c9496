package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Segment files. The bytes of small objects are appended to segment files, one entry per
// object version, back to back:
//
//	entry  := header | bucket | key | data
//	header := magic "PSG1" | crc32c (4 bytes) | data length (4) | bucket length (1)
//	          | key length (2) | zero (1)
//
// Numbers are big endian; the CRC-32C covers everything after itself: the rest of the header,
// bucket, key and data. An index record of kind segment names the segment, the offset of the
// data and its length; the entry's bucket and key let the compactor, reading a segment from
// start to end, find the record that may point at each entry. Whether an entry is live is
// decided by the index alone: an entry no record points at is dead space, whatever it holds,
// and readers find bytes by a record's offset, never by scanning. The scan only finds the
// live entries to move: it skips a damaged or unwritten stretch (a write that failed, a hole
// left by a crash) up to the next magic whose CRC checks out, and should it miss a live
// entry, the segment keeps live bytes and is not removed.

// entryMagic starts every entry.
var entryMagic = [4]byte{'P', 'S', 'G', '1'}

const (
	// entryHeaderLen is the fixed part of an entry before bucket, key and data.
	entryHeaderLen = 16
	// maxEntryPrefix bounds the bytes before the data: header, bucket, key.
	maxEntryPrefix = entryHeaderLen + 255 + MaxKeyLen
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// entryPrefixLen is the length of an entry's header, bucket and key: the offset of its data.
func entryPrefixLen(bucket, key string) int {
	return entryHeaderLen + len(bucket) + len(key)
}

// entryLen is the length of the entry of an object of size bytes at bucket/key: what it adds
// to its segment's live bytes.
func entryLen(bucket, key string, size int64) int64 {
	return int64(entryPrefixLen(bucket, key)) + size
}

// startEntry writes the header but for its CRC, the bucket and the key of an entry of size
// data bytes into prefix (entryPrefixLen(bucket, key) bytes), and returns the CRC so far, to
// be updated with the data and given to finishEntry.
func startEntry(prefix []byte, bucket, key string, size int64) uint32 {
	copy(prefix, entryMagic[:])
	binary.BigEndian.PutUint32(prefix[8:], uint32(size))
	prefix[12] = byte(len(bucket))
	binary.BigEndian.PutUint16(prefix[13:], uint16(len(key)))
	prefix[15] = 0
	copy(prefix[entryHeaderLen:], bucket)
	copy(prefix[entryHeaderLen+len(bucket):], key)
	return crc32.Checksum(prefix[8:entryPrefixLen(bucket, key)], crc32c)
}

// finishEntry writes crc, of the prefix and all the data, into the entry's header.
func finishEntry(prefix []byte, crc uint32) {
	binary.BigEndian.PutUint32(prefix[4:], crc)
}

// sealEntry completes buf, an entry whose data follows room for its prefix.
func sealEntry(buf []byte, bucket, key string) {
	pre := entryPrefixLen(bucket, key)
	crc := startEntry(buf[:pre], bucket, key, int64(len(buf)-pre))
	finishEntry(buf, crc32.Update(crc, crc32c, buf[pre:]))
}

// entry is one entry found in a segment.
type entry struct {
	pos         int64 // offset of the entry in its segment
	bucket, key string
	size        int64 // of the data
}

// dataOff is the offset of the entry's data in its segment.
func (e *entry) dataOff() int64 { return e.pos + int64(entryPrefixLen(e.bucket, e.key)) }

// length is the length of the whole entry.
func (e *entry) length() int64 { return entryLen(e.bucket, e.key, e.size) }

// parseEntryHeader checks the fixed header at the start of buf and returns the length of the
// whole entry it announces; ok is false when buf holds no header.
func parseEntryHeader(buf []byte) (n int64, ok bool) {
	if len(buf) < entryHeaderLen || !bytes.Equal(buf[:4], entryMagic[:]) || buf[15] != 0 {
		return 0, false
	}
	size := binary.BigEndian.Uint32(buf[8:])
	keyLen := int(binary.BigEndian.Uint16(buf[13:]))
	if keyLen == 0 || keyLen > MaxKeyLen || buf[12] == 0 || size > MaxSmallMax {
		return 0, false
	}
	return int64(entryHeaderLen+int(buf[12])+keyLen) + int64(size), true
}

// scanWindow is how much of a segment a scan reads at a time: more than any entry's header,
// bucket and key.
const scanWindow = 1 << 20

// entryScanner reads the entries of a segment from its start up to a limit. It checks each
// entry's CRC by streaming its data through a fixed window, so it holds the same memory
// whatever the entries' sizes, and reads each byte about once.
type entryScanner struct {
	r       io.ReaderAt
	limit   int64
	pos     int64 // offset of the next byte to look at
	buf     []byte
	win     []byte // the bytes of the segment from winPos on, in buf
	winPos  int64
	eof     bool  // the window reaches the file's end
	skipped int64 // bytes passed over as not an entry
}

func newEntryScanner(r io.ReaderAt, limit int64) *entryScanner {
	return &entryScanner{r: r, limit: limit, buf: make([]byte, scanWindow)}
}

// errScanEnd ends a scan.
var errScanEnd = errors.New("disk: end of segment")

// next returns the next entry, errScanEnd after the last one, or a read error. A stretch that
// is not an entry (a write that failed, a hole left by a crash) is skipped up to the next
// magic that starts an entry with a valid CRC. A file shorter than the limit ends the scan.
func (s *entryScanner) next() (entry, error) {
	for s.pos+entryHeaderLen <= s.limit {
		w, err := s.at(s.pos, maxEntryPrefix)
		if err != nil {
			return entry{}, err
		}
		if len(w) < entryHeaderLen {
			break
		}
		if n, ok := parseEntryHeader(w); ok && s.pos+n <= s.limit {
			e, ok, err := s.check(w, n)
			if err != nil {
				return entry{}, err
			}
			if ok {
				s.pos += n
				return e, nil
			}
		}
		if w, err = s.at(s.pos, scanWindow); err != nil {
			return entry{}, err
		}
		step := len(w) - len(entryMagic) + 1 // the magic may straddle the window's end
		if i := bytes.Index(w[1:], entryMagic[:]); i >= 0 {
			step = 1 + i
		}
		s.pos += int64(step)
		s.skipped += int64(step)
	}
	return entry{}, errScanEnd
}

// check reads the entry of n bytes at pos, whose first bytes are w, through its CRC.
func (s *entryScanner) check(w []byte, n int64) (entry, bool, error) {
	bl, kl := int(w[12]), int(binary.BigEndian.Uint16(w[13:]))
	pre := entryHeaderLen + bl + kl
	if len(w) < pre {
		return entry{}, false, nil // the file ends inside
	}
	e := entry{pos: s.pos, bucket: string(w[entryHeaderLen : entryHeaderLen+bl]), key: string(w[entryHeaderLen+bl : pre]), size: n - int64(pre)}
	want := binary.BigEndian.Uint32(w[4:])
	crc := crc32.Update(0, crc32c, w[8:pre])
	for have := int64(pre); have < n; {
		chunk, err := s.at(s.pos+have, int(min(n-have, scanWindow)))
		if err != nil {
			return entry{}, false, err
		}
		if len(chunk) == 0 {
			return entry{}, false, nil
		}
		crc = crc32.Update(crc, crc32c, chunk)
		have += int64(len(chunk))
	}
	return e, crc == want, nil
}

// at returns up to n bytes of the segment from pos on, fewer only at the limit or the file's
// end. They stay valid until the next call.
func (s *entryScanner) at(pos int64, n int) ([]byte, error) {
	n = int(min(int64(n), s.limit-pos))
	if n <= 0 {
		return nil, nil
	}
	if pos < s.winPos || pos+int64(n) > s.winPos+int64(len(s.win)) && !s.eof || pos > s.winPos+int64(len(s.win)) {
		want := min(int64(len(s.buf)), s.limit-pos)
		m, err := s.r.ReadAt(s.buf[:want], pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("disk: read segment: %w", err)
		}
		s.win, s.winPos, s.eof = s.buf[:m], pos, int64(m) < want
	}
	off := int(pos - s.winPos)
	return s.win[off:min(off+n, len(s.win))], nil
}

// segInfo is the index entry of a segment, under segments/<id, 8 bytes big endian>:
//
//	version byte | uvarint end | uvarint live
//
// end is past the last byte any commit has pointed into (never lowered: bytes beyond it are
// garbage); live is the total length of the entries records point at now. A segment whose
// live bytes reach 0 is referenced by no record.
type segInfo struct {
	end, live int64
}

const segInfoVersion = 1

func (s segInfo) encode() []byte {
	dst := []byte{segInfoVersion}
	dst = binary.AppendUvarint(dst, uint64(s.end))
	return binary.AppendUvarint(dst, uint64(s.live))
}

func decodeSegInfo(buf []byte) (segInfo, error) {
	d := decoder{buf: buf}
	if d.byte() != segInfoVersion {
		return segInfo{}, errCorrupt
	}
	end, live := d.uvarint(), d.uvarint()
	if d.bad || len(d.buf) != 0 || end > 1<<62 || live > end {
		return segInfo{}, errCorrupt
	}
	return segInfo{end: int64(end), live: int64(live)}, nil
}

// addSegRef counts an entry of n bytes, ending at end, of segment id as live, in tx.
func addSegRef(tx *bolt.Tx, id uint64, end, n int64) error {
	segs := tx.Bucket(segmentsRoot)
	k := segKey(id)
	var info segInfo
	if v := segs.Get(k); v != nil {
		var err error
		if info, err = decodeSegInfo(v); err != nil {
			return fmt.Errorf("segment %x: %w", id, err)
		}
	}
	info.end = max(info.end, end)
	info.live += n
	return segs.Put(k, info.encode())
}

// dropSegRef counts an entry of n bytes of segment id as dead, in tx.
func dropSegRef(tx *bolt.Tx, id uint64, n int64) error {
	segs := tx.Bucket(segmentsRoot)
	k := segKey(id)
	v := segs.Get(k)
	if v == nil {
		return fmt.Errorf("segment %x: %w: not in the index", id, errCorrupt)
	}
	info, err := decodeSegInfo(v)
	if err != nil || info.live < n {
		return fmt.Errorf("segment %x: %w", id, errCorrupt)
	}
	info.live -= n
	return segs.Put(k, info.encode())
}

// segKey is the index key of segment id.
func segKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}

// segmentName is the file name of segment id under segments/.
func segmentName(id uint64) string {
	return fmt.Sprintf("%016x.seg", id)
}

// parseSegmentName is the inverse of segmentName.
func parseSegmentName(name string) (uint64, bool) {
	hexID, ok := bytes.CutSuffix([]byte(name), []byte(".seg"))
	if !ok || len(hexID) != 16 || !validHex(string(hexID)) {
		return 0, false
	}
	var id uint64
	if _, err := fmt.Sscanf(string(hexID), "%016x", &id); err != nil || id == 0 {
		return 0, false
	}
	return id, true
}
