package disk

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"presign/storage"
)

// segmentSet is the set of segment files: the active one that small writes append to, and the
// open handles that readers share.
//
// Writing: reserve hands out disjoint ranges at the tail of the active segment, and the writer
// fills its range with pwrite, so concurrent writers never wait for each other's bytes. A range
// is made durable by the committer, which fdatasyncs each segment named by the changes of a
// batch once, before the batch's index transaction (see committer). A range whose commit never
// happens is dead space.
//
// Reading: a reader holds a handle (acquire) and reads with pread, so that all readers of a
// segment share one descriptor. Holding a handle is what pins a segment: when compaction has
// moved every entry out of a segment and committed, retire removes the file at once but
// closes the descriptor only at the last release, so a reader that found the old location
// keeps reading the bytes it found (the multipart counterpart, for files opened one by one, is
// filePins). A reader that comes too late finds the segment gone (errSegmentGone) and looks
// its record up again: entries are never rewritten in place, so a location that was current
// when a segment could still be acquired holds the bytes it held then.
type segmentSet struct {
	log   *slog.Logger
	dir   string // DIR/segments
	size  int64  // a segment takes no new entry beyond this length, unless empty
	epoch uint64
	dirs  *dirSyncer
	// sealed is called when a segment stops being active, so that the compactor looks at it.
	sealed func()

	mu     sync.Mutex // guards files, each segFile's refs and gone, and closed
	files  map[uint64]*segFile
	closed bool

	wmu    sync.Mutex // guards active, tail and next: the reservation point
	active *segFile
	tail   int64
	next   uint64 // number of segments this process has created
}

// segFile is an open segment.
type segFile struct {
	id uint64
	f  *os.File
	// refs counts readers holding the handle, gone says the file was retired: the descriptor
	// is closed when both hold. Guarded by segmentSet.mu.
	refs int
	gone bool
	// active is set while the segment takes new entries; pending counts ranges reserved in it
	// whose writers have not yet learnt the fate of their commit. A segment neither active nor
	// pending never gains a reference again, so compaction may take it.
	active  atomic.Bool
	pending atomic.Int64
	// fresh marks a segment this process created empty; referenced is set once a commit has
	// pointed into it. A fresh segment that is sealed, pending nothing and not referenced holds
	// nothing anyone can reach: the writes to it failed or were refused. It is removed at once.
	fresh      bool
	referenced atomic.Bool

	mu     sync.Mutex
	broken error // set when a write or sync failed: nothing written to it since may be trusted
}

// errSegmentGone is returned by acquire for a segment that no longer exists.
var errSegmentGone = errors.New("disk: segment removed")

// maxIdleSegments bounds the read handles kept open with no reader, beyond the active segment.
const maxIdleSegments = 64

func newSegmentSet(log *slog.Logger, dir string, size int64, epoch uint64, dirs *dirSyncer, sealed func()) *segmentSet {
	return &segmentSet{log: log, dir: dir, size: size, epoch: epoch, dirs: dirs, sealed: sealed, files: make(map[uint64]*segFile)}
}

func (s *segmentSet) path(id uint64) string {
	return filepath.Join(s.dir, segmentName(id))
}

// segWrite is a range reserved in a segment for one entry, waiting for its commit.
type segWrite struct {
	s   *segmentSet
	f   *segFile
	off int64 // of the range
}

// done reports that the commit that may reference the range has finished, made or not.
func (w segWrite) done() {
	if w.f.pending.Add(-1) == 0 {
		w.s.dropIfUnused(w.f)
	}
}

// dropIfUnused removes f if it is a fresh segment that nothing points into and nothing can
// any more.
func (s *segmentSet) dropIfUnused(f *segFile) {
	if f.fresh && !f.active.Load() && f.pending.Load() == 0 && !f.referenced.Load() {
		if err := s.retire(f.id); err != nil {
			s.log.Error("disk: remove unused segment", "segment", segmentName(f.id), "err", err)
		}
	}
}

// writeAt writes p at offset off of the range.
func (w segWrite) writeAt(p []byte, off int64) error {
	if _, err := w.f.f.WriteAt(p, w.off+off); err != nil {
		return w.failed(err)
	}
	return nil
}

// failed reports a write into the range that failed. A full disk refuses before writing;
// other errors leave the segment in doubt, so it takes nothing more.
func (w segWrite) failed(err error) error {
	err = mapErr(err)
	if !errors.Is(err, storage.ErrStorageFull) {
		w.f.fail(err)
	}
	return fmt.Errorf("disk: write segment: %w", err)
}

// write appends entry to the active segment. When it returns nil, the caller must call done
// on the result after the commit that references it, whatever its outcome.
func (s *segmentSet) write(entry []byte) (segWrite, error) {
	w, err := s.reserve(int64(len(entry)))
	if err != nil {
		return segWrite{}, err
	}
	if err := w.writeAt(entry, 0); err != nil {
		w.done()
		return segWrite{}, err
	}
	return w, nil
}

// reserve hands out n bytes at the tail of the active segment, rolling to a new segment when
// the active one is full or broken. The caller fills them and must call done once the commit
// that may reference them has finished.
func (s *segmentSet) reserve(n int64) (segWrite, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.active == nil || s.active.failed() != nil || (s.tail > 0 && s.tail+n > s.size) {
		if err := s.roll(); err != nil {
			return segWrite{}, err
		}
	}
	w := segWrite{s: s, f: s.active, off: s.tail}
	s.tail += n
	w.f.pending.Add(1)
	return w, nil
}

// roll makes a new, empty segment the active one; its directory entry is durable before any
// entry is written to it. The caller holds wmu.
func (s *segmentSet) roll() error {
	if s.next >= 1<<24 {
		return errors.New("disk: this process created 2^24 segments; restart it")
	}
	id := s.epoch<<24 | s.next
	s.next++
	fd, err := os.OpenFile(s.path(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("disk: create segment: %w", mapErr(err))
	}
	if err := s.dirs.sync(s.dir); err != nil {
		fd.Close()
		os.Remove(s.path(id)) // never referenced; a failure leaves it to the next start-up
		return err
	}
	s.activate(&segFile{id: id, f: fd, fresh: true}, 0)
	return nil
}

// activate makes f, open for writing, the active segment with its tail at tail. The caller
// holds wmu, or is Open before any write.
func (s *segmentSet) activate(f *segFile, tail int64) {
	s.mu.Lock()
	s.files[f.id] = f
	s.mu.Unlock()
	f.active.Store(true)
	old := s.active
	s.active, s.tail = f, tail
	if old != nil {
		old.active.Store(false)
		s.dropIfUnused(old)
		s.sealed()
	}
}

// activeID returns the id of the active segment, 0 if none.
func (s *segmentSet) activeID() uint64 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.active == nil {
		return 0
	}
	return s.active.id
}

// seal stops segment id from taking new entries, if it is the active one: the next write
// rolls to a new segment.
func (s *segmentSet) seal(id uint64) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if f := s.active; f != nil && f.id == id {
		f.active.Store(false)
		s.active = nil
		s.dropIfUnused(f)
	}
}

// sync makes the bytes written to f durable.
func (f *segFile) sync() error {
	if err := f.failed(); err != nil {
		return err
	}
	if err := fdatasync(f.f); err != nil {
		err = fmt.Errorf("disk: sync segment: %w", mapErr(err))
		f.fail(err)
		return err
	}
	return nil
}

func (f *segFile) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken == nil {
		f.broken = err
	}
}

func (f *segFile) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.broken
}

// quiet reports whether segment id can gain no reference any more: it is not active and no
// write to it waits for its commit.
func (s *segmentSet) quiet(id uint64) bool {
	s.mu.Lock()
	f := s.files[id]
	s.mu.Unlock()
	return f == nil || (!f.active.Load() && f.pending.Load() == 0)
}

// acquire returns segment id open for reading; the caller must release it. errSegmentGone
// means it was retired.
func (s *segmentSet) acquire(id uint64) (*segFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	f := s.files[id]
	if f == nil {
		// Opening under mu orders it against retire's removal.
		fd, err := os.Open(s.path(id))
		if errors.Is(err, os.ErrNotExist) {
			return nil, errSegmentGone
		}
		if err != nil {
			return nil, fmt.Errorf("disk: open segment: %w", err)
		}
		f = &segFile{id: id, f: fd}
		s.files[id] = f
	}
	f.refs++
	return f, nil
}

// release gives back a handle of acquire.
func (s *segmentSet) release(f *segFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.refs--; f.refs > 0 {
		return
	}
	switch {
	case f.gone || s.closed:
		f.f.Close() // read-only use: nothing to lose
	case len(s.files) > maxIdleSegments && !f.active.Load() && f.pending.Load() == 0:
		delete(s.files, f.id)
		f.f.Close()
	}
}

// retire removes segment id, which no record points into any more. Handles held by readers
// stay readable until released.
func (s *segmentSet) retire(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[id]; f != nil {
		delete(s.files, id)
		f.gone = true
		if f.refs == 0 {
			f.f.Close()
		}
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disk: remove segment: %w", err)
	}
	return nil
}

// close closes the handles no reader holds; the others close at their release. Writers must
// have finished.
func (s *segmentSet) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	for id, f := range s.files {
		delete(s.files, id)
		if f.refs == 0 {
			// Everything committed was synced by the committer; the rest is dead space.
			if cerr := f.f.Close(); err == nil {
				err = cerr
			}
		}
	}
	return err
}
