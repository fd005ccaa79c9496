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

// putEntryPrefix fills buf[:entryPrefixLen(bucket, key)] with the header, bucket and key of
// an entry whose data follows in buf; len(buf) is the whole entry's length.
func putEntryPrefix(buf []byte, bucket, key string) {
	n := entryPrefixLen(bucket, key)
	copy(buf, entryMagic[:])
	binary.BigEndian.PutUint32(buf[8:], uint32(len(buf)-n))
	buf[12] = byte(len(bucket))
	binary.BigEndian.PutUint16(buf[13:], uint16(len(key)))
	buf[15] = 0
	copy(buf[entryHeaderLen:], bucket)
	copy(buf[entryHeaderLen+len(bucket):], key)
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], crc32c))
}

// entry is one entry found in a segment.
type entry struct {
	pos         int64 // offset of the entry in its segment
	bucket, key string
	data        []byte // aliases the scanner's buffer until the next call of next
	raw         []byte // the whole entry, likewise
}

// dataOff is the offset of the entry's data in its segment.
func (e *entry) dataOff() int64 { return e.pos + int64(len(e.raw)-len(e.data)) }

// parseEntryHeader checks the fixed header at the start of buf and returns the length of the
// whole entry it announces; ok is false when buf holds no header.
func parseEntryHeader(buf []byte) (n int, ok bool) {
	if len(buf) < entryHeaderLen || !bytes.Equal(buf[:4], entryMagic[:]) || buf[15] != 0 {
		return 0, false
	}
	size := binary.BigEndian.Uint32(buf[8:])
	keyLen := int(binary.BigEndian.Uint16(buf[13:]))
	if keyLen == 0 || keyLen > MaxKeyLen || buf[12] == 0 || size > MaxSmallMax {
		return 0, false
	}
	return entryHeaderLen + int(buf[12]) + keyLen + int(size), true
}

// parseEntry parses a whole entry: buf must hold exactly the length parseEntryHeader gave.
func parseEntry(buf []byte, pos int64) (entry, bool) {
	if binary.BigEndian.Uint32(buf[4:]) != crc32.Checksum(buf[8:], crc32c) {
		return entry{}, false
	}
	bl, kl := int(buf[12]), int(binary.BigEndian.Uint16(buf[13:]))
	return entry{
		pos:    pos,
		bucket: string(buf[entryHeaderLen : entryHeaderLen+bl]),
		key:    string(buf[entryHeaderLen+bl : entryHeaderLen+bl+kl]),
		data:   buf[entryHeaderLen+bl+kl:],
		raw:    buf,
	}, true
}

// maxEntryLen is the length of the largest entry.
const maxEntryLen = maxEntryPrefix + MaxSmallMax

// entryScanner reads the entries of a segment from its start up to a limit, through a window
// of two largest entries, whatever the segment's size.
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
	return &entryScanner{r: r, limit: limit, buf: make([]byte, 2*maxEntryLen)}
}

// errScanEnd ends a scan.
var errScanEnd = errors.New("disk: end of segment")

// next returns the next entry, errScanEnd after the last one, or a read error. A stretch that
// is not an entry (a write that failed, a hole left by a crash) is skipped up to the next
// magic that starts an entry with a valid CRC. A file shorter than the limit ends the scan.
func (s *entryScanner) next() (entry, error) {
	for s.pos+entryHeaderLen <= s.limit {
		w, err := s.window()
		if err != nil {
			return entry{}, err
		}
		if len(w) < entryHeaderLen {
			break
		}
		if n, ok := parseEntryHeader(w); ok && n <= len(w) {
			if e, ok := parseEntry(w[:n], s.pos); ok {
				s.pos += int64(n)
				return e, nil
			}
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

// window returns the bytes of the segment from pos on, up to the limit: at least one largest
// entry's worth unless the limit or the file's end comes first.
func (s *entryScanner) window() ([]byte, error) {
	have := s.winPos + int64(len(s.win))
	if s.pos+maxEntryLen > have && have < s.limit && !s.eof {
		want := min(int64(len(s.buf)), s.limit-s.pos)
		n, err := s.r.ReadAt(s.buf[:want], s.pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("disk: read segment: %w", err)
		}
		s.win, s.winPos, s.eof = s.buf[:n], s.pos, int64(n) < want
	}
	return s.win[s.pos-s.winPos:], nil
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
