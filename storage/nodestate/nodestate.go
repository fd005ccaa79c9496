// Package nodestate keeps a storage node's own durable record of consumed X-Presign-Once
// nonces and of revocations, in one bbolt file, for a node that shares no Redis with others:
// a gateway over an S3 service whose nonces cannot live in the service, and any node's
// revocations, which its admin call (POST /_presign/revoke) feeds. With several nodes and no
// Redis, each node has its own record: a once-URL then works once per node, and a revocation
// must be sent to every node.
package nodestate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/internal/durable"
	"presign/storage"
)

var (
	noncesBucket = []byte("nonces")       // nonce → until (Unix ns)
	idsBucket    = []byte("revoked-id")   // ticket id → until (Unix ns), then before (Unix ns) unless all its URLs are revoked
	usersBucket  = []byte("revoked-user") // user → before (Unix ns), then until (Unix ns)
)

// Store is a storage.NonceStore and storage.RevocationStore in a bbolt file. Revocations are
// also held in memory, so that checking one costs no disk access. It is safe for concurrent
// use.
type Store struct {
	db  *bolt.DB
	now func() time.Time

	mu    sync.RWMutex
	ids   map[string]idRevocation
	users map[string]userRevocation

	stop context.CancelFunc
	done chan struct{}
}

type userRevocation struct{ before, until time.Time }

// idRevocation is a ticket's revocation: of the URLs signed before before, or of all of them
// when before is zero.
type idRevocation struct{ before, until time.Time }

// encode is the record of r: until, then before when set. Until comes first so that the
// sweep reads every record's until alike, and records of versions that revoked all of a
// ticket's URLs (until alone) read as such.
func (r idRevocation) encode() []byte {
	b := encodeTime(r.until)
	if !r.before.IsZero() {
		b = append(b, encodeTime(r.before)...)
	}
	return b
}

func decodeIDRevocation(v []byte) idRevocation {
	r := idRevocation{until: decodeTime(v)}
	if len(v) == 16 {
		r.before = decodeTime(v[8:])
	}
	return r
}

var (
	_ storage.NonceStore      = (*Store)(nil)
	_ storage.RevocationStore = (*Store)(nil)
)

// sweepEvery is how often expired records are removed from the file.
const sweepEvery = time.Minute

// Open opens (creating it if need be) the store at path and starts removing expired records.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("nodestate: %w", err)
	}
	// bbolt does not sync the directory of the file it creates.
	if err := durable.SyncParent(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("nodestate: %w", err)
	}
	s := &Store{db: db, now: time.Now, ids: map[string]idRevocation{}, users: map[string]userRevocation{}, done: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{noncesBucket, idsBucket, usersBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(idsBucket).ForEach(func(k, v []byte) error {
			s.ids[string(k)] = decodeIDRevocation(v)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
			if len(v) == 16 {
				s.users[string(k)] = userRevocation{decodeTime(v[:8]), decodeTime(v[8:])}
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("nodestate: %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.sweepLoop(ctx)
	return s, nil
}

// Close stops the sweeping and closes the file.
func (s *Store) Close() error {
	s.stop()
	<-s.done
	return s.db.Close()
}

func encodeTime(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

func decodeTime(b []byte) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}

// ErrInvalidNonce is returned for an empty nonce or one longer than 1024 bytes.
var ErrInvalidNonce = errors.New("nodestate: nonce empty or longer than 1024 bytes")

// Consume implements storage.NonceStore. The record is on disk (fsynced) when it returns.
func (s *Store) Consume(ctx context.Context, nonce string, until time.Time) (first bool, err error) {
	if nonce == "" || len(nonce) > 1024 {
		return false, ErrInvalidNonce
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(noncesBucket)
		if old := b.Get([]byte(nonce)); old != nil && decodeTime(old).After(s.now()) {
			first = false
			return nil
		}
		first = true
		return b.Put([]byte(nonce), encodeTime(until))
	})
	return first, err
}

// Release implements storage.NonceStore.
func (s *Store) Release(ctx context.Context, nonce string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(noncesBucket).Delete([]byte(nonce)) })
}

// Revoke implements storage.RevocationStore.
func (s *Store) Revoke(ctx context.Context, r storage.Revocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.User != "" {
		cur := s.users[r.User]
		next := userRevocation{later(cur.before, r.Before), later(cur.until, r.Until)}
		err := s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(usersBucket).Put([]byte(r.User), append(encodeTime(next.before), encodeTime(next.until)...))
		})
		if err != nil {
			return fmt.Errorf("nodestate: revoke: %w", err)
		}
		s.users[r.User] = next
		return nil
	}
	next := idRevocation{before: r.Before, until: r.Until}
	if cur, ok := s.ids[r.ID]; ok {
		next.until = later(cur.until, r.Until)
		if cur.before.IsZero() || r.Before.IsZero() {
			next.before = time.Time{} // all of its URLs
		} else {
			next.before = later(cur.before, r.Before)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(idsBucket).Put([]byte(r.ID), next.encode())
	})
	if err != nil {
		return fmt.Errorf("nodestate: revoke: %w", err)
	}
	s.ids[r.ID] = next
	return nil
}

// Revoked implements storage.RevocationStore from memory.
func (s *Store) Revoked(ctx context.Context, id, user string, signedAt time.Time) (bool, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.ids[id]; ok && id != "" && r.until.After(now) && (r.before.IsZero() || signedAt.Before(r.before)) {
		return true, nil
	}
	if u, ok := s.users[user]; ok && user != "" && u.until.After(now) && signedAt.Before(u.before) {
		return true, nil
	}
	return false, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *Store) sweepLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.sweep() // the next sweep retries; expired records are ignored meanwhile
		}
	}
}

// sweep removes the records whose time has passed. A failed sweep is retried by the next.
func (s *Store) sweep() error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		expired := func(bucket []byte, until func(v []byte) time.Time, forget func(k string)) error {
			b := tx.Bucket(bucket)
			var gone [][]byte
			b.ForEach(func(k, v []byte) error {
				if !until(v).After(now) {
					gone = append(gone, k)
				}
				return nil
			})
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
				forget(string(k))
			}
			return nil
		}
		userUntil := func(v []byte) time.Time {
			if len(v) != 16 {
				return time.Time{}
			}
			return decodeTime(v[8:])
		}
		return errors.Join(
			expired(noncesBucket, decodeTime, func(string) {}),
			expired(idsBucket, decodeTime, func(k string) { delete(s.ids, k) }),
			expired(usersBucket, userUntil, func(k string) { delete(s.users, k) }),
		)
	})
}
