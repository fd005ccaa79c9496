package disk

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// ErrInvalidKey is returned by PutObject for an empty key or one longer than MaxKeyLen bytes.
var ErrInvalidKey = errors.New("disk: object key empty or longer than 1024 bytes")

// PutObject implements storage.Backend. An object of at most SmallMax bytes goes to a
// segment: read whole into a pooled buffer when it is at most bufferedMax bytes (or of unknown
// size and found to be), streamed into a range reserved for it when its size is declared and
// larger. A larger object, or one of unknown size beyond bufferedMax, streams through a pooled
// buffer into tmp/, is fsynced, renamed into objects/ and the directory fsynced. Either way the
// index commit comes after the bytes are durable. Errors of the body are returned wrapped, so
// errors.Is and errors.As find them.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, body storage.Body, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if err := b.begin(); err != nil {
		return storage.ObjectInfo{}, err
	}
	defer b.ops.Done()
	if len(key) == 0 || len(key) > MaxKeyLen {
		return storage.ObjectInfo{}, ErrInvalidKey
	}
	if len(bucket) == 0 || len(bucket) > 255 {
		return storage.ObjectInfo{}, storage.ErrNoSuchBucket
	}
	size := body.Size()
	bufMax := min(b.smallMax, bufferedMax)
	buffered := b.smallMax >= 0 && size <= bufMax
	if !buffered {
		// Refuse early what the commit would refuse, rather than store gigabytes for nothing.
		// The commit checks again, atomically.
		if err := b.db.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket(objectsRoot).Bucket([]byte(bucket))
			if bk == nil {
				return storage.ErrNoSuchBucket
			}
			return checkConditions(bk.Get([]byte(key)), opts)
		}); err != nil {
			return storage.ObjectInfo{}, err
		}
		if size >= 0 && size <= b.smallMax {
			return b.putStreamed(ctx, bucket, key, body, opts)
		}
		return b.putFile(ctx, bucket, key, body, nil, false, opts)
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	// The body goes after room for the entry's header, bucket and key, so that the entry is
	// written with one pwrite; one byte more than fits tells a larger body.
	bufp := b.smallBufs.Get().(*[]byte)
	defer b.smallBufs.Put(bufp)
	pre := entryPrefixLen(bucket, key)
	buf := (*bufp)[:pre+int(bufMax)+1]
	n, err := storage.Fill(body, buf[pre:])
	switch {
	case err == io.EOF && int64(n) <= bufMax:
		return b.putSmall(ctx, bucket, key, body, buf[:pre+n], opts)
	case err == io.EOF:
		return b.putFile(ctx, bucket, key, body, buf[pre:pre+n], true, opts)
	case err != nil:
		return storage.ObjectInfo{}, fmt.Errorf("disk: read body: %w", err)
	}
	return b.putFile(ctx, bucket, key, body, buf[pre:pre+n], false, opts)
}

// putSmall appends entry, the header room, bucket, key and the whole body, to a segment and
// commits a record pointing at it. An empty body needs no segment: its record holds it.
func (b *Backend) putSmall(ctx context.Context, bucket, key string, body storage.Body, entry []byte, opts storage.PutOptions) (storage.ObjectInfo, error) {
	sums := body.Sums()
	pre := entryPrefixLen(bucket, key)
	rec := &record{
		size:      int64(len(entry) - pre),
		etag:      hex.EncodeToString(sums.MD5[:]),
		meta:      opts.Meta,
		checksums: sums.Checksums,
	}
	if rec.size == 0 {
		return b.commitPut(ctx, bucket, key, rec, opts)
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	sealEntry(entry, bucket, key)
	w, err := b.segs.write(entry)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer w.done()
	rec.seg, rec.off = w.f.id, w.off+int64(pre)
	return b.commitPut(ctx, bucket, key, rec, opts, w.f)
}

// putStreamed streams body, of declared size, into a range reserved for its entry in the
// active segment, and commits a record pointing at it. The entry's prefix, whose CRC covers
// the data, is written last. If the body fails, the range stays dead space.
func (b *Backend) putStreamed(ctx context.Context, bucket, key string, body storage.Body, opts storage.PutOptions) (storage.ObjectInfo, error) {
	size := body.Size()
	pre := int64(entryPrefixLen(bucket, key))
	w, err := b.segs.reserve(pre + size)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer w.done()
	prefix := make([]byte, pre)
	crc := startEntry(prefix, bucket, key, size)
	bufp := b.copyBufs.Get().(*[]byte)
	defer b.copyBufs.Put(bufp)
	for n := int64(0); ; {
		if err := ctx.Err(); err != nil {
			return storage.ObjectInfo{}, err
		}
		m, err := storage.Fill(body, *bufp)
		if int64(m) > size-n {
			return storage.ObjectInfo{}, fmt.Errorf("disk: body longer than its declared %d bytes", size)
		}
		if m > 0 {
			if werr := w.writeAt((*bufp)[:m], pre+n); werr != nil {
				return storage.ObjectInfo{}, werr
			}
			crc = crc32.Update(crc, crc32c, (*bufp)[:m])
			n += int64(m)
		}
		if err == io.EOF {
			if n != size {
				return storage.ObjectInfo{}, fmt.Errorf("disk: body of %d bytes, %d declared", n, size)
			}
			break
		}
		if err != nil {
			return storage.ObjectInfo{}, fmt.Errorf("disk: read body: %w", err)
		}
	}
	finishEntry(prefix, crc)
	if err := w.writeAt(prefix, 0); err != nil {
		return storage.ObjectInfo{}, err
	}
	sums := body.Sums()
	rec := &record{
		size:      size,
		etag:      hex.EncodeToString(sums.MD5[:]),
		meta:      opts.Meta,
		checksums: sums.Checksums,
		seg:       w.f.id,
		off:       w.off + pre,
	}
	return b.commitPut(ctx, bucket, key, rec, opts, w.f)
}

// putFile streams first, the bytes of body already read, and the rest of body to a new object
// file, and commits it. eof says that first is the whole body. On any failure the file is
// removed.
func (b *Backend) putFile(ctx context.Context, bucket, key string, body storage.Body, first []byte, eof bool, opts storage.PutOptions) (storage.ObjectInfo, error) {
	id, n, err := b.writeFile(ctx, body, first, eof)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	sums := body.Sums()
	rec := &record{
		size:      n,
		etag:      hex.EncodeToString(sums.MD5[:]),
		file:      id,
		meta:      opts.Meta,
		checksums: sums.Checksums,
	}
	info, err := b.commitPut(ctx, bucket, key, rec, opts)
	if err != nil {
		b.discardFile(id)
	}
	return info, err
}

// writeFile streams first and the rest of body to a new file and makes it durable in
// objects/: written, fsynced, renamed, its directory fsynced. It returns the file's id and
// length. No record names the file yet: the caller commits one, or calls discardFile. On
// failure nothing is left behind.
func (b *Backend) writeFile(ctx context.Context, body storage.Body, first []byte, eof bool) (id string, n int64, err error) {
	id = b.newFileID()
	path := b.tmpPath(id) // where the file is until it is renamed into objects/
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", 0, fmt.Errorf("disk: create object file: %w", mapErr(err))
	}
	open := true
	defer func() {
		if err == nil {
			return
		}
		if open {
			f.Close() // its error changes nothing: the file is being discarded
		}
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			b.log.Error("disk: remove discarded object file", "path", path, "err", rerr)
		}
	}()
	if size := body.Size(); size > 0 {
		if err := checkSpace(f, size); err != nil {
			return "", 0, fmt.Errorf("disk: %d bytes do not fit: %w", size, mapErr(err))
		}
	}
	bufp := b.copyBufs.Get().(*[]byte)
	n, err = stream(ctx, f, body, *bufp, first, eof)
	b.copyBufs.Put(bufp)
	if err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("disk: sync object file: %w", mapErr(err))
	}
	open = false
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("disk: close object file: %w", mapErr(err))
	}
	final := b.objectPath(id)
	if err := b.ensureFanout(filepath.Dir(final)); err != nil {
		return "", 0, err
	}
	if err := os.Rename(path, final); err != nil {
		return "", 0, fmt.Errorf("disk: %w", mapErr(err))
	}
	path = final
	if err := b.dirs.sync(filepath.Dir(final)); err != nil {
		return "", 0, err
	}
	return id, n, nil
}

// discardFile removes a file written by writeFile whose commit failed.
func (b *Backend) discardFile(id string) {
	if err := os.Remove(b.objectPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.log.Error("disk: remove discarded object file", "file", id, "err", err)
	}
}

// stream writes first, then the rest of body read through buf, to f, and returns the number of
// bytes written. eof says that first is already the whole body. A body that can write itself
// (io.WriterTo) does, from its own buffers.
func stream(ctx context.Context, f *os.File, body io.Reader, buf, first []byte, eof bool) (int64, error) {
	w := &objectWriter{ctx: ctx, f: f}
	if _, err := w.Write(first); err != nil || eof {
		return w.total, err
	}
	var err error
	if wt, ok := body.(io.WriterTo); ok {
		_, err = wt.WriteTo(w)
	} else {
		for err == nil {
			var n int
			n, err = storage.Fill(body, buf)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return w.total, werr
			}
		}
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil && (w.err == nil || !errors.Is(err, w.err)) {
		return w.total, fmt.Errorf("disk: read body: %w", err)
	}
	return w.total, err
}

// objectWriter writes a new object file. While it writes, it starts the writeback of every
// writeBehindBytes written, so that the fsync after the last byte waits for the disk only for
// the tail instead of the whole object.
type objectWriter struct {
	ctx            context.Context
	f              *os.File
	total, flushed int64
	err            error // the last error, to tell it from the body's
}

func (w *objectWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.f.Write(p)
	w.total += int64(n)
	if err != nil {
		w.err = fmt.Errorf("disk: write object file: %w", mapErr(err))
		return n, w.err
	}
	if w.total-w.flushed >= writeBehindBytes {
		if err := startWriteback(w.f, w.flushed, w.total-w.flushed); err != nil {
			w.err = fmt.Errorf("disk: write back object file: %w", mapErr(err))
			return n, w.err
		}
		w.flushed = w.total
	}
	return n, nil
}

// commitPut makes rec (pointing at its synced file, at its bytes in a segment of syncs, or
// empty) the object at bucket/key, if opts' conditions hold at the commit, and then removes
// the file of the object it replaced. When it fails, the caller removes rec's file.
func (b *Backend) commitPut(ctx context.Context, bucket, key string, rec *record, opts storage.PutOptions, syncs ...*segFile) (storage.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	kb, bb := []byte(key), []byte(bucket)
	val := make([]byte, 0, rec.encodedLen(0))
	var replaced []string
	apply := func(tx *bolt.Tx) error {
		replaced = nil
		objs := tx.Bucket(objectsRoot)
		bk := objs.Bucket(bb)
		if bk == nil {
			return refuse(storage.ErrNoSuchBucket)
		}
		old := bk.Get(kb)
		if err := checkConditions(old, opts); err != nil {
			return refuse(err)
		}
		var err error
		if replaced, err = releaseRecord(tx, bucket, key, old); err != nil {
			return err
		}
		seq, err := objs.NextSequence()
		if err != nil {
			return err
		}
		rec.seq, rec.modified = seq, time.Now().UTC()
		// bbolt keeps val until the transaction ends; a retried apply runs in a new one.
		val = rec.encode(val[:0], nil)
		if err := bk.Put(kb, val); err != nil {
			return err
		}
		if rec.seg != 0 {
			if err := addSegRef(tx, rec.seg, rec.off+rec.size, entryLen(bucket, key, rec.size)); err != nil {
				return err
			}
		}
		files := tx.Bucket(filesRoot)
		if rec.file != "" {
			if err := files.Put([]byte(rec.file), fileMark); err != nil {
				return err
			}
		}
		return unmarkFiles(files, replaced)
	}
	if err := b.commit.do(apply, len(val)+len(kb), syncs...); err != nil {
		return storage.ObjectInfo{}, err
	}
	b.removeFiles(replaced)
	return rec.info(bucket, key), nil
}

// releaseRecord is the part of an index change that stops pointing at old, the encoded record
// of bucket/key (nil for none): it takes old's entry out of its segment's live bytes, and
// returns old's files, which the caller unmarks in the same transaction and removes after
// the commit.
func releaseRecord(tx *bolt.Tx, bucket, key string, old []byte) ([]string, error) {
	if old == nil {
		return nil, nil
	}
	prev, tail, err := decodeRecord(old)
	var files []string
	if err == nil {
		files, err = prev.files(tail)
	}
	if err == nil && prev.seg != 0 {
		err = dropSegRef(tx, prev.seg, entryLen(bucket, key, prev.size))
	}
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	return files, nil
}

// unmarkFiles drops ids from the set of files in use, in a transaction that stops pointing
// at them; the caller removes the files after the commit (removeFiles).
func unmarkFiles(files *bolt.Bucket, ids []string) error {
	for _, id := range ids {
		if err := files.Delete([]byte(id)); err != nil {
			return err
		}
	}
	return nil
}

// fileMark is the value of an entry of filesRoot.
var fileMark = []byte{1}

// checkConditions checks opts against the current record old (nil when there is none).
func checkConditions(old []byte, opts storage.PutOptions) error {
	if opts.IfNoneMatch && old != nil {
		return storage.ErrPreconditionFailed
	}
	if opts.IfMatch != "" {
		if old == nil {
			return storage.ErrPreconditionFailed
		}
		r, _, err := decodeRecord(old)
		if err != nil {
			return err
		}
		if r.etag != opts.IfMatch {
			return storage.ErrPreconditionFailed
		}
	}
	return nil
}

// removeFiles removes object files no index record points to any more. A file that an open
// multipart object is reading is removed when that object is closed (see filePins). A failure
// only leaks the file until the start-up scan of a later Open removes it.
func (b *Backend) removeFiles(ids []string) {
	for _, id := range ids {
		if b.pins.deferRemoval(id) {
			continue
		}
		b.removeFile(id)
	}
}

func (b *Backend) removeFile(id string) {
	if err := os.Remove(b.objectPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.log.Error("disk: remove unreferenced object file", "file", id, "err", err)
	}
}
