package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"presign/events"
)

// subscription tells one reader that entries were committed, and the lowest Seq among them, so
// a reader whose position is past that Seq can step back instead of missing the entry.
type subscription struct {
	wake chan struct{}
	mu   sync.Mutex
	low  uint64 // lowest Seq committed since the last take; 0 if none
}

func (l *Log) subscribe() *subscription {
	s := &subscription{wake: make(chan struct{}, 1)}
	l.subsMu.Lock()
	l.subs[s] = struct{}{}
	l.subsMu.Unlock()
	return s
}

func (l *Log) unsubscribe(s *subscription) {
	l.subsMu.Lock()
	delete(l.subs, s)
	l.subsMu.Unlock()
}

func (l *Log) notify(low uint64) {
	l.subsMu.Lock()
	defer l.subsMu.Unlock()
	for s := range l.subs {
		s.mu.Lock()
		if s.low == 0 || low < s.low {
			s.low = low
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// take returns and forgets the lowest Seq committed since the last take (0 if none).
func (s *subscription) take() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	low := s.low
	s.low = 0
	return low
}

// scanResult is one step of a reader through the log.
type scanResult struct {
	entries []events.Entry
	// last is the last Seq examined; the next scan starts after it.
	last uint64
	// more is true when the scan stopped before the end of the log.
	more bool
}

// scan returns, in Seq order, up to max entries after Seq after whose key match accepts and
// that target has not acknowledged, examining at most limit entries.
func (l *Log) scan(target []byte, after uint64, match func(key []byte) bool, max, limit int) (scanResult, error) {
	res := scanResult{last: after}
	err := l.db.View(func(tx *bolt.Tx) error {
		acks := tx.Bucket(bucketAcks).Bucket(target)
		c := tx.Bucket(bucketEntries).Cursor()
		examined := 0
		for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
			if len(res.entries) == max || examined == limit {
				res.more = true
				return nil
			}
			examined++
			seq := binary.BigEndian.Uint64(k)
			res.last = seq
			d, err := decode(v)
			if err != nil {
				return fmt.Errorf("%w: seq %d", err, seq)
			}
			if !match(d.key) || (acks != nil && acks.Get(k) != nil) {
				continue
			}
			res.entries = append(res.entries, events.Entry{
				Seq:  seq,
				ID:   string(d.id),
				Key:  string(d.key),
				Body: append([]byte(nil), d.body...),
			})
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return scanResult{}, ErrClosed
	}
	if err != nil {
		return scanResult{}, fmt.Errorf("outbox: scan: %w", err)
	}
	return res, nil
}

var ackMark = []byte{1}

// ack records durably that target has the entry seq, and removes the entry once every target
// in all has it.
func (l *Log) ack(ctx context.Context, target []byte, seq uint64, all [][]byte) error {
	return l.submit(ctx, newOp(func(tx *bolt.Tx, fx *effects) error {
		k := seqKey(seq)
		entries := tx.Bucket(bucketEntries)
		if entries.Get(k) == nil {
			return nil
		}
		acks := tx.Bucket(bucketAcks)
		b, err := acks.CreateBucketIfNotExists(target)
		if err != nil {
			return err
		}
		// A non-empty value: bbolt's Get may return nil for an empty one.
		if err := b.Put(k, ackMark); err != nil {
			return err
		}
		return removeIfDone(tx, k, all, fx)
	}))
}

// removeIfDone deletes the entry k and its acknowledgements when every target in all has
// acknowledged it.
func removeIfDone(tx *bolt.Tx, k []byte, all [][]byte, fx *effects) error {
	acks := tx.Bucket(bucketAcks)
	for _, t := range all {
		b := acks.Bucket(t)
		if b == nil || b.Get(k) == nil {
			return nil
		}
	}
	if err := tx.Bucket(bucketEntries).Delete(k); err != nil {
		return err
	}
	fx.removed++
	var names [][]byte
	if err := acks.ForEachBucket(func(name []byte) error {
		names = append(names, append([]byte(nil), name...))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		if err := acks.Bucket(name).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// sweep removes the entries that every target in all has acknowledged: after targets were
// removed from the configuration, their entries would otherwise wait for them forever.
func (l *Log) sweep(ctx context.Context, all [][]byte) error {
	return l.submit(ctx, newOp(func(tx *bolt.Tx, fx *effects) error {
		var keys [][]byte
		err := tx.Bucket(bucketEntries).ForEach(func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		// Deleting while a cursor walks the bucket can skip keys, so collect first.
		for _, k := range keys {
			if err := removeIfDone(tx, k, all, fx); err != nil {
				return err
			}
		}
		return nil
	}))
}

// oldest returns the append time of the first entry, or false when the log is empty or closed.
func (l *Log) oldest() (time.Time, bool) {
	var at int64
	found := false
	err := l.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketEntries).Cursor().First()
		if v == nil {
			return nil
		}
		d, err := decode(v)
		if err != nil {
			return err
		}
		at, found = d.appendedAt, true
		return nil
	})
	if err != nil || !found {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}
