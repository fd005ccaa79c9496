package disk

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every change of the index goes through one committer goroutine. It takes every
// change queued at that moment, applies them all in one bbolt transaction and commits it with
// one pair of fdatasyncs; changes that arrive meanwhile queue up for the next transaction. So a
// lone write waits for one commit, and N concurrent writes share one commit instead of waiting
// for N. Unlike bbolt's DB.Batch there is no timer: a batch closes when the previous commit
// ends, so the batch size follows the load without adding latency to a lone write (measured
// against DB.Batch in bench_test.go).
//
// A change that points records at bytes in segments names those segments, and the committer
// fdatasyncs each segment named in a batch once, before the batch's transaction: the bytes a
// record points at are durable before the record is, and a batch of N small writes costs one
// segment sync however large N is.

// Batch bounds: how many changes, and how many bytes of records, one transaction takes.
const (
	maxBatchOps   = 1024
	maxBatchBytes = 16 << 20
)

// change is one index change waiting for the committer.
type change struct {
	// apply makes the change in tx. It returns a refusal, having changed nothing, when the
	// change must not be made (a failed condition, a missing bucket); any other error may
	// leave tx partly changed and makes the committer retry the batch without this change.
	apply func(tx *bolt.Tx) error
	size  int        // approximate bytes the change adds to the transaction
	syncs []*segFile // segments holding bytes the change points at, to sync first
	err   error
	done  chan struct{}
}

// refusal is an outcome of apply that changed nothing.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse reports from apply that the change was not made because of err.
func refuse(err error) error { return &refusal{err: err} }

type committer struct {
	db    *bolt.DB
	queue chan *change
	stop  chan struct{}
	done  chan struct{}
	// Transactions committed and changes they carried, for diagnostics: their ratio is the
	// mean batch size.
	txs, changes atomic.Uint64
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{
		db:    db,
		queue: make(chan *change, maxBatchOps),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go c.run()
	return c
}

// do applies apply durably: when do returns nil, the change is committed and synced. It
// returns apply's refusal (unwrapped) or the commit's error. Once queued, a change is waited
// for whatever happens to the caller's context, so that the caller learns whether it was made.
// The segments in syncs are synced before the transaction; if one of them fails, the change
// is not applied and do returns that error. do must not be called after close.
func (c *committer) do(apply func(tx *bolt.Tx) error, size int, syncs ...*segFile) error {
	ch := &change{apply: apply, size: size, syncs: syncs, done: make(chan struct{})}
	c.queue <- ch
	<-ch.done
	return ch.err
}

// close stops the committer once the queue is empty; callers of do must have returned.
func (c *committer) close() {
	close(c.stop)
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*change, 0, maxBatchOps)
	for {
		select {
		case ch := <-c.queue:
			batch = append(batch[:0], ch)
		case <-c.stop:
			return
		}
		bytes := batch[0].size
	fill:
		for len(batch) < maxBatchOps && bytes < maxBatchBytes {
			select {
			case ch := <-c.queue:
				batch = append(batch, ch)
				bytes += ch.size
			default:
				break fill
			}
		}
		c.commit(batch)
		clear(batch) // drop references to finished changes while waiting for the next
	}
}

// commit applies batch in one transaction and reports to each change. A change whose apply
// fails with an error other than a refusal runs alone, and the others are retried without it,
// so that one broken change cannot fail its neighbours.
func (c *committer) commit(batch []*change) {
	batch = syncSegments(batch)
	for len(batch) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, ch := range batch {
				ch.err = ch.apply(tx)
				var r *refusal
				if ch.err != nil && !errors.As(ch.err, &r) {
					failed = i
					return ch.err
				}
			}
			return nil
		})
		if failed >= 0 {
			solo := batch[failed]
			solo.err = c.db.Update(solo.apply)
			if solo.err == nil {
				solo.made()
			}
			finish(solo, nil)
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		if err != nil {
			err = fmt.Errorf("disk: commit index: %w", mapErr(err))
		}
		c.txs.Add(1)
		c.changes.Add(uint64(len(batch)))
		for _, ch := range batch {
			if err == nil && ch.err == nil {
				ch.made()
			}
			finish(ch, err)
		}
		return
	}
}

// made records that ch was committed: the segments it points into are referenced.
func (ch *change) made() {
	for _, f := range ch.syncs {
		f.referenced.Store(true)
	}
}

// syncSegments fdatasyncs every segment the changes of batch name, once each, and returns
// the changes whose segments are all durable; the others are finished with the error.
func syncSegments(batch []*change) []*change {
	var synced []*segFile // few: the active segment, and one more around a roll
	kept := batch[:0]
	for _, ch := range batch {
		var err error
		for _, f := range ch.syncs {
			if !slices.Contains(synced, f) {
				f.sync() // its error stays with f
				synced = append(synced, f)
			}
			if ferr := f.failed(); ferr != nil && err == nil {
				err = ferr
			}
		}
		if err != nil {
			finish(ch, err)
			continue
		}
		kept = append(kept, ch)
	}
	return kept
}

// finish reports the outcome of ch: the commit's error if any, else apply's own.
func finish(ch *change, commitErr error) {
	if commitErr != nil {
		ch.err = commitErr
	}
	var r *refusal
	switch {
	case errors.As(ch.err, &r):
		ch.err = r.err
	case ch.err != nil && commitErr == nil:
		ch.err = fmt.Errorf("disk: index: %w", mapErr(ch.err))
	}
	close(ch.done)
}
