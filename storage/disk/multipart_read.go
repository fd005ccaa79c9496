package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// openMultipart makes an Object of a multipart record read by lookup. It pins the record's
// files and then checks that the record is still the current one: if so, none of its files
// has been removed, and none will be until the Object is closed. ok is false when the object
// was replaced or deleted meanwhile; the caller looks again.
func (b *Backend) openMultipart(bucket, key string, rec record, tail []byte) (obj storage.Object, ok bool, err error) {
	pieces, err := parsePieces(tail, rec.size)
	if err != nil {
		return nil, false, fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	ids := make([]string, len(pieces))
	ends := make([]int64, len(pieces))
	var end int64
	for i, s := range pieces {
		ids[i] = s.file
		end += s.size
		ends[i] = end
	}
	b.pins.pin(ids)
	current := false
	err = b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(objectsRoot).Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		v := bk.Get([]byte(key))
		if v == nil {
			return nil
		}
		now, _, err := decodeRecord(v)
		current = err == nil && now.seq == rec.seq
		return nil
	})
	if err != nil || !current {
		b.unpin(ids)
		return nil, false, err
	}
	return &multiObject{b: b, info: rec.info(bucket, key), files: ids, ends: ends}, true, nil
}

// unpin releases pins and removes the files whose removal waited for them.
func (b *Backend) unpin(ids []string) {
	for _, id := range b.pins.unpin(ids) {
		b.removeFile(id)
	}
}

// multiObject is an Object whose bytes are the concatenation of part files. It holds no file
// open; each range reader opens one part at a time.
type multiObject struct {
	b      *Backend
	info   storage.ObjectInfo
	files  []string
	ends   []int64 // ends[i] is the object offset just past part i
	closed bool
}

func (o *multiObject) Info() storage.ObjectInfo { return o.info }

// PartRange implements storage.PartedObject.
func (o *multiObject) PartRange(_ context.Context, n int) (offset, length int64, err error) {
	if n < 1 || n > len(o.ends) {
		return 0, 0, storage.ErrNoSuchPart
	}
	if n > 1 {
		offset = o.ends[n-2]
	}
	return offset, o.ends[n-1] - offset, nil
}

func (o *multiObject) Range(_ context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > o.info.Size {
		return nil, fmt.Errorf("disk: range %d+%d outside object of %d bytes", offset, length, o.info.Size)
	}
	return &multiRange{o: o, pos: offset, end: offset + length, part: -1}, nil
}

func (o *multiObject) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	o.b.unpin(o.files)
	return nil
}

// multiRange reads a section of a multiObject, part file by part file.
type multiRange struct {
	o        *multiObject
	pos, end int64
	part     int      // index of the open part, -1 for none
	f        *os.File // the open part
}

// openAt makes the part holding object offset pos the open one, positioned at pos, and
// returns how many bytes of the range it holds from there.
func (r *multiRange) openAt(pos int64) (int64, error) {
	i := sort.Search(len(r.o.ends), func(i int) bool { return r.o.ends[i] > pos })
	start := r.o.ends[i] - r.partSize(i)
	if i != r.part {
		if err := r.closePart(); err != nil {
			return 0, err
		}
		f, err := os.Open(r.o.b.objectPath(r.o.files[i]))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return 0, fmt.Errorf("disk: %s/%s: part file %s is missing", r.o.info.Bucket, r.o.info.Key, r.o.files[i])
			}
			return 0, fmt.Errorf("disk: open part: %w", err)
		}
		if _, err := f.Seek(pos-start, io.SeekStart); err != nil {
			f.Close()
			return 0, fmt.Errorf("disk: %w", err)
		}
		r.f, r.part = f, i
	}
	return min(r.o.ends[i], r.end) - pos, nil
}

func (r *multiRange) partSize(i int) int64 {
	if i == 0 {
		return r.o.ends[0]
	}
	return r.o.ends[i] - r.o.ends[i-1]
}

func (r *multiRange) closePart() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.part = nil, -1
	return err
}

func (r *multiRange) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	n, err := r.openAt(r.pos)
	if err != nil {
		return 0, err
	}
	if int64(len(p)) > n {
		p = p[:n]
	}
	m, err := r.f.Read(p)
	r.pos += int64(m)
	if err == io.EOF || (err == nil && m == 0) {
		err = io.ErrUnexpectedEOF // the part file is shorter than its record says
	}
	return m, err
}

// WriteTo implements io.WriterTo: each part goes to w as a limited *os.File, so that a TCP
// connection's ReadFrom sends it with sendfile.
func (r *multiRange) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.pos < r.end {
		n, err := r.openAt(r.pos)
		if err != nil {
			return total, err
		}
		m, err := io.Copy(w, &io.LimitedReader{R: r.f, N: n})
		total += m
		r.pos += m
		if err != nil {
			return total, err
		}
		if m < n {
			return total, io.ErrUnexpectedEOF
		}
	}
	return total, nil
}

func (r *multiRange) Close() error { return r.closePart() }
