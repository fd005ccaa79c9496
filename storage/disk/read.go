package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// HeadObject implements storage.Backend.
func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := b.begin(); err != nil {
		return storage.ObjectInfo{}, err
	}
	defer b.ops.Done()
	rec, _, err := b.lookup(bucket, key, false)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return rec.info(bucket, key), nil
}

// GetObject implements storage.Backend. The Object of a file keeps the file open, and that of
// a segment holds its handle, so it reads its version even after a replace, a delete or
// compaction has removed the file's name.
func (b *Backend) GetObject(ctx context.Context, bucket, key string) (storage.Object, error) {
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.ops.Done()
	missing := ""
	var missingSeg uint64
	for {
		rec, tail, err := b.lookup(bucket, key, true)
		if err != nil {
			return nil, err
		}
		if rec.multipart {
			obj, ok, err := b.openMultipart(bucket, key, rec, tail)
			if ok || err != nil {
				return obj, err
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			continue // replaced or deleted since the lookup
		}
		if rec.seg != 0 {
			f, err := b.segs.acquire(rec.seg)
			if err == nil {
				return &segObject{b: b, info: rec.info(bucket, key), f: f, off: rec.off}, nil
			}
			if !errors.Is(err, errSegmentGone) {
				return nil, err
			}
			// Retired after the lookup, so the record has moved: look again. Records move only
			// out of a segment, never back, so seeing the same one twice means it is lost.
			if rec.seg == missingSeg {
				return nil, fmt.Errorf("disk: %s/%s: segment %s is missing", bucket, key, segmentName(rec.seg))
			}
			missingSeg = rec.seg
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			continue
		}
		if rec.file == "" {
			return &inlineObject{info: rec.info(bucket, key), data: tail}, nil
		}
		f, err := os.Open(b.objectPath(rec.file))
		if err == nil {
			return &fileObject{info: rec.info(bucket, key), f: f}, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("disk: open object: %w", err)
		}
		// A file is removed only after the index stopped pointing at it: the object was
		// replaced or deleted since the lookup, so look again. Seeing the same file twice
		// means the file is lost.
		if rec.file == missing {
			return nil, fmt.Errorf("disk: %s/%s: object file %s is missing", bucket, key, rec.file)
		}
		missing = rec.file
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// lookup reads the record of bucket/key; with data, it also returns a copy of its tail (the
// bytes of an inline record, the part list of a multipart one). Inline records with bytes
// are those of stores written before segments.
func (b *Backend) lookup(bucket, key string, data bool) (rec record, tail []byte, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(objectsRoot).Bucket([]byte(bucket))
		if bk == nil {
			return storage.ErrNoSuchBucket
		}
		v := bk.Get([]byte(key))
		if v == nil {
			return storage.ErrNoSuchKey
		}
		var in []byte
		rec, in, err = decodeRecord(v)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", bucket, key, err)
		}
		if data && len(in) > 0 {
			tail = bytes.Clone(in)
		}
		return nil
	})
	return rec, tail, err
}

// inlineObject is an Object whose bytes were copied out of the index.
type inlineObject struct {
	info storage.ObjectInfo
	data []byte
}

func (o *inlineObject) Info() storage.ObjectInfo { return o.info }

func (o *inlineObject) Range(_ context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > int64(len(o.data)) {
		return nil, fmt.Errorf("disk: range %d+%d outside object of %d bytes", offset, length, len(o.data))
	}
	return io.NopCloser(bytes.NewReader(o.data[offset : offset+length])), nil
}

func (o *inlineObject) Close() error { return nil }

// fileObject is an Object whose bytes are in an open file.
type fileObject struct {
	info storage.ObjectInfo
	f    *os.File
	// at is the range reader that positioned f's offset last; another one seeks first.
	at *fileRange
}

func (o *fileObject) Info() storage.ObjectInfo { return o.info }

func (o *fileObject) Range(_ context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > o.info.Size {
		return nil, fmt.Errorf("disk: range %d+%d outside object of %d bytes", offset, length, o.info.Size)
	}
	return &fileRange{o: o, pos: offset, end: offset + length}, nil
}

func (o *fileObject) Close() error { return o.f.Close() }

// fileRange reads a section of a fileObject through the file's own offset rather than with
// pread, so that WriteTo can hand the file to a ReaderFrom (a TCP connection: sendfile).
type fileRange struct {
	o        *fileObject
	pos, end int64
}

// position moves the file's offset to r.pos unless r left it there.
func (r *fileRange) position() error {
	if r.o.at == r {
		return nil
	}
	if _, err := r.o.f.Seek(r.pos, io.SeekStart); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	r.o.at = r
	return nil
}

func (r *fileRange) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if err := r.position(); err != nil {
		return 0, err
	}
	if rem := r.end - r.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := r.o.f.Read(p)
	r.pos += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the file is shorter than its record says
	}
	return n, err
}

// WriteTo implements io.WriterTo, so that io.Copy passes the file, limited to the range, to
// w's ReadFrom when it has one.
func (r *fileRange) WriteTo(w io.Writer) (int64, error) {
	if r.pos >= r.end {
		return 0, nil
	}
	if err := r.position(); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, &io.LimitedReader{R: r.o.f, N: r.end - r.pos})
	r.pos += n
	if err == nil && r.pos < r.end {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *fileRange) Close() error { return nil }

// segObject is an Object whose bytes are in a segment, held open by a handle.
type segObject struct {
	b      *Backend
	info   storage.ObjectInfo
	f      *segFile
	off    int64 // of the bytes in the segment
	closed bool
}

func (o *segObject) Info() storage.ObjectInfo { return o.info }

func (o *segObject) Range(_ context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > o.info.Size {
		return nil, fmt.Errorf("disk: range %d+%d outside object of %d bytes", offset, length, o.info.Size)
	}
	return &segRange{o: o, pos: o.off + offset, end: o.off + offset + length}, nil
}

func (o *segObject) Close() error {
	if !o.closed {
		o.closed = true
		o.b.segs.release(o.f)
	}
	return nil
}

// segRange reads a section of a segObject with pread, so that readers share the descriptor.
type segRange struct {
	o        *segObject
	pos, end int64
}

func (r *segRange) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if rem := r.end - r.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := r.o.f.f.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the segment is shorter than the record says
	}
	if err != nil && n == len(p) {
		err = nil
	}
	return n, err
}

// WriteTo implements io.WriterTo. A range larger than the small buffers goes to w through a
// descriptor of its own, positioned at the range, so that a TCP connection's ReadFrom sends it
// with sendfile; a smaller one, or one of a segment removed meanwhile, is read with pread into
// one pooled buffer and written with as few calls of w.Write as its length allows.
func (r *segRange) WriteTo(w io.Writer) (int64, error) {
	if r.end-r.pos > bufferedMax {
		if f, err := os.Open(r.o.b.segs.path(r.o.f.id)); err == nil {
			defer f.Close() // read-only
			if _, err := f.Seek(r.pos, io.SeekStart); err != nil {
				return 0, fmt.Errorf("disk: %w", err)
			}
			n, err := io.Copy(w, &io.LimitedReader{R: f, N: r.end - r.pos})
			r.pos += n
			if err == nil && r.pos < r.end {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	bufp := r.o.b.copyBufs.Get().(*[]byte)
	defer r.o.b.copyBufs.Put(bufp)
	var total int64
	for r.pos < r.end {
		n, err := r.Read((*bufp)[:min(int64(len(*bufp)), r.end-r.pos)])
		if n > 0 {
			m, werr := w.Write((*bufp)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *segRange) Close() error { return nil }
