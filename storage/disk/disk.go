package disk

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/internal/durable"
	"presign/storage"
)

// Defaults and limits of Options.
const (
	// DefaultSmallMax is the largest object stored in a segment rather than in a file of its
	// own. A file costs an inode, a rename and a directory fsync, and its own fsync: on the
	// ext4 this was measured on, creating the inode alone took 0.2 to 1 ms of CPU, as much as
	// writing a MiB. Past a few MiB that is noise, while compaction copies live segment bytes
	// again; 1 MiB keeps the gain where it matters (BenchmarkPutBySize).
	DefaultSmallMax = 1 << 20
	// MaxSmallMax bounds Options.SmallMax, and the data of one segment entry.
	MaxSmallMax = 64 << 20
	// bufferedMax is the largest body read whole into a pooled buffer and written to its
	// segment with one pwrite; larger ones of declared size stream into their range.
	bufferedMax = 64 << 10
	// DefaultSegmentSize is the length at which a segment stops taking new entries: large
	// enough that segments are few, small enough that compacting one is a short job.
	DefaultSegmentSize = 256 << 20
	// MaxKeyLen is the longest object key accepted, in bytes, as S3 allows.
	MaxKeyLen = 1024
	// DefaultNonceSweepInterval is how often expired nonces are forgotten.
	DefaultNonceSweepInterval = time.Minute
	// DefaultMultipartExpiry is how long an incomplete multipart upload is kept.
	DefaultMultipartExpiry = 7 * 24 * time.Hour
	// copyBufSize is the pooled buffer a write streams through.
	copyBufSize = 128 << 10
	// writeBehindBytes is how much of a large object may be written before its writeback is
	// started: small enough that little is left for the final fsync, large enough that the
	// disk gets big sequential writes.
	writeBehindBytes = 8 << 20
)

// ErrClosed is returned by the methods of a closed Backend.
var ErrClosed = errors.New("disk: backend closed")

// Options configure a Backend.
type Options struct {
	// Dir is the directory holding the index and the object files; created if missing.
	Dir string
	// SmallMax is the largest object whose bytes are appended to a segment file rather than
	// written to a file of its own: 0 means DefaultSmallMax, a negative value stores every
	// object with bytes in a file of its own.
	SmallMax int64
	// SegmentSize is the length from which a segment takes no new entry; 0 means
	// DefaultSegmentSize.
	SegmentSize int64
	// Logger receives background events (recovery, sweeps); nil discards them.
	Logger *slog.Logger
	// NonceSweepInterval is how often expired nonces are forgotten; 0 means
	// DefaultNonceSweepInterval.
	NonceSweepInterval time.Duration
	// LockTimeout bounds the wait for another process holding the index; 0 means one second.
	LockTimeout time.Duration
	// MultipartExpiry is how long a multipart upload may stay incomplete: older ones are
	// aborted and their parts removed by a background sweep. 0 means DefaultMultipartExpiry.
	MultipartExpiry time.Duration
}

// Backend is a storage.Backend and storage.NonceStore on a local directory. It is safe for
// concurrent use; one directory may be opened by one Backend at a time.
type Backend struct {
	dir      string
	smallMax int64
	log      *slog.Logger
	db       *bolt.DB
	epoch    uint64 // of this Open; names of files this process creates start with it
	commit   *committer
	dirs     *dirSyncer
	fanouts  sync.Map // fan-out directories known to exist durably
	// Pooled buffers, as *[]byte: of an entry of bufferedMax+1 bytes for reading a body that
	// may be small, of copyBufSize for streaming one into a segment or a file.
	smallBufs, copyBufs sync.Pool
	// Files are named in fan-out directory fanout0 + n/filesPerFanout, n counting the files
	// of this Open: see newFileID.
	fileSeq atomic.Uint64
	fanout0 byte

	segs         *segmentSet
	compactMu    sync.Mutex    // one compaction pass at a time
	compactNudge chan struct{} // wakes the compactor early
	// compactStuck remembers the live bytes a pass left in a segment it could not empty, so
	// that later passes skip it until they change.
	compactStuck map[uint64]int64

	mu     sync.Mutex // guards closed, and ops.Add against Close's ops.Wait
	closed bool
	ops    sync.WaitGroup // calls in progress

	stopBG     context.CancelFunc
	bg         sync.WaitGroup
	scanDone   chan struct{} // closed when the start-up orphan scan has finished
	sweepEvery time.Duration

	pins            filePins      // files of open multipart objects
	multipartExpiry time.Duration // of incomplete uploads
}

var (
	_ storage.Backend    = (*Backend)(nil)
	_ storage.NonceStore = (*Backend)(nil)
)

// Open opens or creates the store in opts.Dir. It removes leftovers of an earlier crash from
// tmp/ before returning, and removes unreferenced object files in the background.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Dir == "" {
		return nil, errors.New("disk: Options.Dir is empty")
	}
	smallMax := opts.SmallMax
	switch {
	case smallMax == 0:
		smallMax = DefaultSmallMax
	case smallMax < 0:
		smallMax = -1
	case smallMax > MaxSmallMax:
		return nil, fmt.Errorf("disk: Options.SmallMax %d exceeds %d", smallMax, MaxSmallMax)
	}
	segSize := opts.SegmentSize
	if segSize <= 0 {
		segSize = DefaultSegmentSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	b := &Backend{
		dir:          opts.Dir,
		smallMax:     smallMax,
		log:          log,
		scanDone:     make(chan struct{}),
		sweepEvery:   opts.NonceSweepInterval,
		compactNudge: make(chan struct{}, 1),
		compactStuck: make(map[uint64]int64),
	}
	var r [1]byte
	rand.Read(r[:])
	b.fanout0 = r[0]
	if b.sweepEvery <= 0 {
		b.sweepEvery = DefaultNonceSweepInterval
	}
	b.multipartExpiry = opts.MultipartExpiry
	if b.multipartExpiry <= 0 {
		b.multipartExpiry = DefaultMultipartExpiry
	}
	b.smallBufs.New = func() any { buf := make([]byte, maxEntryPrefix+bufferedMax+1); return &buf }
	b.copyBufs.New = func() any { buf := make([]byte, copyBufSize); return &buf }
	if err := b.makeDirs(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(b.dir, "index.db"), 0o600, &bolt.Options{
		Timeout: lockTimeout,
		// The freelist is rebuilt on open instead of written by every commit: commits are the
		// hot path, opens are rare.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Read transactions block a commit that must remap the file; a large initial map
		// makes that rare.
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("disk: open index: %w", err)
	}
	// bbolt does not sync the directory of the file it creates.
	if err := durable.SyncDir(b.dir); err != nil {
		db.Close()
		return nil, fmt.Errorf("disk: %w", mapErr(err))
	}
	b.db = db
	if err := b.initIndex(); err != nil {
		db.Close()
		return nil, err
	}
	if err := b.clearTmp(); err != nil {
		db.Close()
		return nil, err
	}
	b.dirs = newDirSyncer()
	b.segs = newSegmentSet(log, filepath.Join(b.dir, "segments"), segSize, b.epoch, b.dirs, b.nudgeCompactor)
	if err := b.recoverSegments(); err != nil {
		b.segs.close()
		db.Close()
		return nil, err
	}
	b.commit = newCommitter(db)
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.stopBG = cancel
	b.bg.Add(4)
	go func() { defer b.bg.Done(); defer close(b.scanDone); b.removeOrphans(bgCtx) }()
	go func() { defer b.bg.Done(); b.sweepNonces(bgCtx) }()
	go func() { defer b.bg.Done(); b.sweepUploads(bgCtx) }()
	go func() { defer b.bg.Done(); b.compactLoop(bgCtx) }()
	return b, nil
}

// Close stops background work, waits for the calls in progress, and closes the index. Objects
// returned by GetObject stay readable until they are closed.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	b.mu.Unlock()
	b.stopBG()
	b.bg.Wait()
	b.ops.Wait()
	b.commit.close()
	serr := b.segs.close()
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("disk: close index: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("disk: close segments: %w", serr)
	}
	return nil
}

// begin registers a call in progress; the caller must call b.ops.Done when it returns.
func (b *Backend) begin() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.ops.Add(1)
	return nil
}

// Names of the index's top-level bbolt buckets.
var (
	bucketsRoot  = []byte("buckets")   // bucket name → created (unix nanoseconds)
	objectsRoot  = []byte("objects")   // one nested bbolt bucket per bucket: key → record; its sequence is the Sequencer
	filesRoot    = []byte("files")     // file id → empty, for every file a record points to
	noncesRoot   = []byte("nonces")    // nonce → until (unix nanoseconds)
	nonceExpRoot = []byte("nonce-exp") // until (8 bytes, big endian) + nonce → empty, for sweeping
	uploadsRoot  = []byte("uploads")   // one nested bbolt bucket per bucket: key NUL upload id → upload record
	partsRoot    = []byte("parts")     // one nested bbolt bucket per upload id: part number (2 bytes) → part record
	doneRoot     = []byte("completed") // upload id → completion memo, kept for retried completions
	segmentsRoot = []byte("segments")  // segment id (8 bytes, big endian) → segInfo
	metaRoot     = []byte("meta")
	epochKey     = []byte("epoch")
	formatKey    = []byte("format")
)

// indexFormat is the layout version written in meta/format. Format 2 added segments: a store
// of format 1 is upgraded by opening it (nothing in it changes meaning), while a binary that
// knows only format 1 refuses a store of format 2 instead of misreading its records.
const (
	indexFormat   = 2
	indexFormatV1 = 1
)

// makeDirs creates Dir, tmp/ and objects/ as needed and makes their creation durable. The
// fan-out directories under objects/ are made when first needed (see ensureFanout): creating
// all 256 up front costs a fresh store tens of milliseconds of journal work.
func (b *Backend) makeDirs() error {
	for _, d := range []string{b.dir, filepath.Join(b.dir, "tmp"), filepath.Join(b.dir, "objects"), filepath.Join(b.dir, "segments")} {
		if err := durable.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("disk: %w", mapErr(err))
		}
	}
	return nil
}

// ensureFanout makes sure the fan-out directory dir exists durably, before a file is renamed
// into it.
func (b *Backend) ensureFanout(dir string) error {
	if _, ok := b.fanouts.Load(dir); ok {
		return nil
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("disk: %w", mapErr(err))
	}
	// Even when it existed: an earlier process may have died before making it durable.
	if err := b.dirs.sync(filepath.Dir(dir)); err != nil {
		return err
	}
	b.fanouts.Store(dir, struct{}{})
	return nil
}

func (b *Backend) initIndex() error {
	return b.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketsRoot, objectsRoot, filesRoot, noncesRoot, nonceExpRoot, uploadsRoot, partsRoot, doneRoot, metaRoot, segmentsRoot} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("disk: init index: %w", err)
			}
		}
		meta := tx.Bucket(metaRoot)
		f := meta.Get(formatKey)
		if f != nil && (len(f) != 8 || binary.BigEndian.Uint64(f) != indexFormat && binary.BigEndian.Uint64(f) != indexFormatV1) {
			return fmt.Errorf("disk: index format %x not supported", f)
		}
		if err := meta.Put(formatKey, binary.BigEndian.AppendUint64(nil, indexFormat)); err != nil {
			return err
		}
		var epoch uint64
		if e := meta.Get(epochKey); len(e) == 8 {
			epoch = binary.BigEndian.Uint64(e)
		}
		b.epoch = epoch + 1
		return meta.Put(epochKey, binary.BigEndian.AppendUint64(nil, b.epoch))
	})
}

// filesPerFanout is how many new files go to one fan-out directory before the next one
// takes over. Concurrent writes thus rename into the same directory, where one fsync covers
// all their renames (dirSyncer), instead of one fsync each in 256 different directories;
// and over time the files still spread evenly over the 256.
const filesPerFanout = 1024

// newFileID names a new object file: the epoch of this Open, so that the start-up scan can
// tell files of earlier runs from files being written now, then its fan-out byte, then 88
// random bits.
func (b *Backend) newFileID() string {
	fanout := b.fanout0 + byte((b.fileSeq.Add(1)-1)/filesPerFanout)
	var r [11]byte
	rand.Read(r[:])
	return fmt.Sprintf("%016x%02x%s", b.epoch, fanout, hex.EncodeToString(r[:]))
}

// fileIDLen is the length of a name made by newFileID.
const fileIDLen = 16 + 24

// objectPath is where the bytes of file id live: fanned out by the byte after its epoch.
func (b *Backend) objectPath(id string) string {
	return filepath.Join(b.dir, "objects", id[16:18], id)
}

func (b *Backend) tmpPath(id string) string {
	return filepath.Join(b.dir, "tmp", id)
}

func syncDir(dir string) error {
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("disk: %w", mapErr(err))
	}
	return nil
}

// mapErr marks the errors of a full disk or quota with storage.ErrStorageFull.
func mapErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", storage.ErrStorageFull, err)
	}
	return err
}
