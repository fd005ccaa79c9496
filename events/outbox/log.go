// Package outbox keeps storage events on disk until every webhook target has acknowledged
// them, and delivers them.
//
// A Log is the durable queue: the storage node appends an event's entry before it answers the
// client, so an event survives a crash right after the answer. A Deliverer sends each entry to
// every Target, signed (see package events), retrying with backoff until the target answers
// 2xx, and removes the entry once all targets have acknowledged it.
//
// Delivery is at least once: an entry sent but not yet recorded as acknowledged when the node
// stops is sent again after the restart, with the same event id, so receivers de-duplicate by
// event id. Each target has its own progress (its acknowledgements are kept in the log), and
// per target, entries of one key are sent one at a time in Seq order: the next is sent only
// after the previous one was acknowledged. Keys are spread over a few lanes per target by a
// hash, so a key whose deliveries fail holds up only the keys of its own lane; when the
// receiver is down, every lane waits.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"presign/events"
	"presign/internal/durable"
)

// maxBatch bounds how many Append and acknowledgement requests share one transaction, so one
// commit stays short however many goroutines wait.
const maxBatch = 1024

// reserveStep is the room one AppendReserved on a full disk gives back from the reserve: room
// for hundreds of events, so the reserve lasts for many deletes while each step is taken only
// when the disk is full again.
const reserveStep = 256 << 10

var (
	bucketEntries = []byte("entries")
	bucketAcks    = []byte("acks")
)

// Errors of the Log.
var (
	// ErrClosed means the Log was closed.
	ErrClosed = errors.New("outbox: log closed")
	// ErrCorrupt means an entry on disk cannot be decoded.
	ErrCorrupt = errors.New("outbox: corrupt entry")
)

// Options configure a Log.
type Options struct {
	// Registerer receives the Log's metrics; nil registers none. Close unregisters them. The
	// metric names are fixed: for several Logs in one process, wrap the Registerer with
	// prometheus.WrapRegistererWith and a distinguishing label.
	Registerer prometheus.Registerer
	// Logger receives the Log's logs; nil means slog.Default().
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process to release the file; 0 means 5 s.
	LockTimeout time.Duration
}

// Log is a durable, append-only queue of entries ordered by Seq, in one bbolt file.
//
// Appends are group-committed: one goroutine commits every request that is waiting when the
// previous commit ends, in one transaction and one fsync, so a lone Append pays one fsync and
// adds no waiting, and many concurrent Appends share fsyncs. (bbolt's DB.Batch would make
// every lone Append wait for its MaxBatchDelay first: 12 ms against 0.3 ms on the development
// machine, and it batched 64 appenders less well.) Acknowledgements from the Deliverer share
// the same commits.
//
// Ordering contract: entries of one Key are delivered in Seq order among the entries present.
// The caller must therefore Append a Key's entries in Seq order (for example while it holds
// whatever serialises writes to that key). Entries of different keys may be appended in any
// order: one committed with a lower Seq than entries already delivered is still delivered,
// just later.
//
// A Log is safe for concurrent use. Use at most one Deliverer per Log.
type Log struct {
	db     *bolt.DB
	logger *slog.Logger

	ops  chan *op
	stop chan struct{}
	done chan struct{}

	mu       sync.RWMutex // guards closed against in-flight submissions
	closed   bool
	inflight sync.WaitGroup

	depth   atomic.Int64
	commits atomic.Uint64

	subsMu sync.Mutex
	subs   map[*subscription]struct{}

	// reserve is room held back for AppendReserved, taken back after a commit once released.
	reserve *durable.Reserve

	metrics *logMetrics
}

// Open opens or creates the log file at path.
func Open(path string, opts Options) (*Log, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	// bbolt does not sync the directory of the file it creates.
	if err := durable.SyncParent(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var n int
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEntries)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketAcks); err != nil {
			return err
		}
		n = b.Stats().KeyN
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: prepare %s: %w", path, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	l := &Log{
		db:     db,
		logger: logger,
		ops:    make(chan *op, maxBatch),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		subs:   map[*subscription]struct{}{},
	}
	l.depth.Store(int64(n))
	l.reserve = durable.NewReserve(path+"-reserve", reserveStep)
	if l.metrics, err = newLogMetrics(l, opts.Registerer); err != nil {
		db.Close()
		return nil, err
	}
	go l.commitLoop()
	return l, nil
}

// Len returns the number of entries not yet acknowledged by every target.
func (l *Log) Len() int {
	return int(l.depth.Load())
}

// Append writes entries durably: when it returns nil they are on stable storage and will be
// delivered. Either all entries of one call are written or none is (events.ErrInvalidEntry,
// events.ErrDuplicateSeq, ErrClosed, or a disk error).
//
// If ctx ends first Append returns ctx's error, and the entries may or may not have been
// written.
func (l *Log) Append(ctx context.Context, entries []events.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := validate(entries); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	values := make([][]byte, len(entries))
	for i, e := range entries {
		values[i] = encode(e, now)
	}
	o := newOp(func(tx *bolt.Tx, fx *effects) error {
		b := tx.Bucket(bucketEntries)
		for _, e := range entries {
			if b.Get(seqKey(e.Seq)) != nil {
				return reject(fmt.Errorf("%w: %d", events.ErrDuplicateSeq, e.Seq))
			}
		}
		for i, e := range entries {
			if err := b.Put(seqKey(e.Seq), values[i]); err != nil {
				return err
			}
			fx.added(e.Seq)
		}
		return nil
	})
	return l.submit(ctx, o)
}

// AppendReserved is Append for the event of a change that must not be refused for want of
// space — a delete, which is how space is freed: when the disk has no room for the entries, the
// Log gives back a step of the room it holds (a file of durable.ReserveSize bytes beside the log)
// and tries once more. Call Room first, before making the change.
func (l *Log) AppendReserved(ctx context.Context, entries []events.Entry) error {
	err := l.Append(ctx, entries)
	if IsNoSpace(err) && l.reserve.Release() {
		err = l.Append(ctx, entries)
	}
	return err
}

// Room reports whether AppendReserved can be expected to find room: the reserve is held, or
// is taken now. A caller refuses the change (its disk is full) when it reports false, so that
// a change is never made without its event.
func (l *Log) Room() bool {
	return l.reserve.Ensure()
}

// IsNoSpace reports whether err means the disk had no room (ENOSPC, EDQUOT).
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func validate(entries []events.Entry) error {
	seen := make(map[uint64]struct{}, len(entries))
	for i, e := range entries {
		if err := e.Check(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if _, dup := seen[e.Seq]; dup {
			return fmt.Errorf("%w: %d twice in one Append", events.ErrDuplicateSeq, e.Seq)
		}
		seen[e.Seq] = struct{}{}
	}
	return nil
}

// Close waits for pending Appends, then closes the file. Stop the Deliverer first.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.inflight.Wait()
	close(l.stop)
	<-l.done
	l.metrics.unregister()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}

// op is one request to the committer. run must check before it writes: an error wrapped by
// reject, returned before any write, rejects this op alone; any other error aborts the whole
// transaction.
type op struct {
	run  func(tx *bolt.Tx, fx *effects) error
	done chan error
}

func newOp(run func(*bolt.Tx, *effects) error) *op {
	return &op{run: run, done: make(chan error, 1)}
}

type rejected struct{ err error }

func (r rejected) Error() string { return r.err.Error() }
func (r rejected) Unwrap() error { return r.err }

func reject(err error) error { return rejected{err} }

// effects collects what a transaction changed, applied to counters and subscribers only once
// it has committed.
type effects struct {
	appended int
	removed  int
	low      uint64 // lowest Seq appended; 0 if none
}

func (fx *effects) added(seq uint64) {
	fx.appended++
	if fx.low == 0 || seq < fx.low {
		fx.low = seq
	}
}

// submit hands o to the committer and waits for its result.
func (l *Log) submit(ctx context.Context, o *op) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	l.inflight.Add(1)
	l.mu.RUnlock()
	defer l.inflight.Done()
	select {
	case l.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Log) commitLoop() {
	defer close(l.done)
	batch := make([]*op, 0, maxBatch)
	for {
		select {
		case o := <-l.ops:
			batch = append(batch[:0], o)
		case <-l.stop:
			// Close has waited for every submitter, so whatever is queued is all there is.
			for {
				select {
				case o := <-l.ops:
					l.commit([]*op{o})
				default:
					return
				}
			}
		}
	more:
		for len(batch) < maxBatch {
			select {
			case o := <-l.ops:
				batch = append(batch, o)
			default:
				break more
			}
		}
		l.commit(batch)
	}
}

// commit runs ops in one transaction. Rejected ops get their own error and leave no trace;
// the others share the commit's result.
func (l *Log) commit(ops []*op) {
	results := make([]error, len(ops))
	var fx effects
	err := l.db.Update(func(tx *bolt.Tx) error {
		fx = effects{}
		for i, o := range ops {
			var opFx effects
			if err := o.run(tx, &opFx); err != nil {
				var r rejected
				if errors.As(err, &r) {
					results[i] = r.err
					continue
				}
				return err
			}
			fx.appended += opFx.appended
			fx.removed += opFx.removed
			if opFx.low != 0 && (fx.low == 0 || opFx.low < fx.low) {
				fx.low = opFx.low
			}
		}
		return nil
	})
	l.commits.Add(1)
	if err != nil {
		err = fmt.Errorf("outbox: commit: %w", err)
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	} else {
		l.reserve.Take(time.Now())
		l.depth.Add(int64(fx.appended - fx.removed))
		l.metrics.appended.Add(float64(fx.appended))
		if fx.low != 0 {
			l.notify(fx.low)
		}
	}
	for i, o := range ops {
		o.done <- results[i]
	}
}

// Entry encoding: version byte, append time (Unix ns, big-endian), uvarint-prefixed id and key,
// then the body. The key comes early so a scan can pick its lane without touching the body.
const formatVersion = 1

func encode(e events.Entry, appendedAt int64) []byte {
	b := make([]byte, 0, 1+8+2*binary.MaxVarintLen64+len(e.ID)+len(e.Key)+len(e.Body))
	b = append(b, formatVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(appendedAt))
	b = binary.AppendUvarint(b, uint64(len(e.ID)))
	b = append(b, e.ID...)
	b = binary.AppendUvarint(b, uint64(len(e.Key)))
	b = append(b, e.Key...)
	return append(b, e.Body...)
}

// decoded is an entry as stored; its slices point into bbolt's memory and are valid only in
// the transaction that read them.
type decoded struct {
	appendedAt int64
	id, key    []byte
	body       []byte
}

func decode(v []byte) (decoded, error) {
	var d decoded
	if len(v) < 9 || v[0] != formatVersion {
		return d, ErrCorrupt
	}
	d.appendedAt = int64(binary.BigEndian.Uint64(v[1:9]))
	rest := v[9:]
	var ok bool
	if d.id, rest, ok = field(rest); !ok {
		return d, ErrCorrupt
	}
	if d.key, rest, ok = field(rest); !ok {
		return d, ErrCorrupt
	}
	d.body = rest
	return d, nil
}

func field(b []byte) (f, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}
