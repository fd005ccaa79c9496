package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrInvalidNonce is returned for an empty nonce or one longer than 1024 bytes.
var ErrInvalidNonce = errors.New("disk: nonce empty or longer than 1024 bytes")

// sweepBatch bounds the nonces one sweep transaction forgets, so that a sweep never holds up
// the writes queued behind it for long.
const sweepBatch = 4096

// Consume implements storage.NonceStore. A nonce whose time has passed counts as forgotten,
// whether or not the sweeper has removed it yet. The record is group-committed like a small
// object.
func (b *Backend) Consume(ctx context.Context, nonce string, until time.Time) (first bool, err error) {
	if err := b.begin(); err != nil {
		return false, err
	}
	defer b.ops.Done()
	if len(nonce) == 0 || len(nonce) > 1024 {
		return false, ErrInvalidNonce
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	n := []byte(nonce)
	untilNs := until.UnixNano()
	val := binary.BigEndian.AppendUint64(nil, uint64(untilNs))
	expKey := append(bytes.Clone(val), n...)
	err = b.commit.do(func(tx *bolt.Tx) error {
		first = false
		nonces, exp := tx.Bucket(noncesRoot), tx.Bucket(nonceExpRoot)
		if old := nonces.Get(n); len(old) == 8 {
			if int64(binary.BigEndian.Uint64(old)) > time.Now().UnixNano() {
				return nil
			}
			if err := exp.Delete(append(bytes.Clone(old), n...)); err != nil {
				return err
			}
		}
		if err := nonces.Put(n, val); err != nil {
			return err
		}
		first = true
		return exp.Put(expKey, nil)
	}, len(expKey)+len(n)+8)
	return first, err
}

// Release implements storage.NonceStore. Releasing a nonce that is not recorded is not an
// error.
func (b *Backend) Release(ctx context.Context, nonce string) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.ops.Done()
	if len(nonce) == 0 || len(nonce) > 1024 {
		return ErrInvalidNonce
	}
	n := []byte(nonce)
	return b.commit.do(func(tx *bolt.Tx) error {
		nonces := tx.Bucket(noncesRoot)
		old := nonces.Get(n)
		if len(old) != 8 {
			return nil
		}
		if err := tx.Bucket(nonceExpRoot).Delete(append(bytes.Clone(old), n...)); err != nil {
			return err
		}
		return nonces.Delete(n)
	}, len(n))
}

// sweepNonces forgets expired nonces now and then every sweep interval, until ctx ends.
func (b *Backend) sweepNonces(ctx context.Context) {
	t := time.NewTicker(b.sweepEvery)
	defer t.Stop()
	for {
		for {
			n, err := b.sweepOnce(time.Now())
			if err != nil {
				b.log.Error("disk: sweep expired nonces", "err", err)
			}
			if n < sweepBatch || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOnce forgets up to sweepBatch nonces expired at now and reports how many it forgot.
func (b *Backend) sweepOnce(now time.Time) (int, error) {
	limit := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	expired := func(k []byte) bool { return k != nil && bytes.Compare(k[:8], limit) <= 0 }
	var due bool
	if err := b.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(nonceExpRoot).Cursor().First()
		due = expired(k)
		return nil
	}); err != nil || !due {
		return 0, err
	}
	var n int
	err := b.commit.do(func(tx *bolt.Tx) error {
		n = 0
		nonces, exp := tx.Bucket(noncesRoot), tx.Bucket(nonceExpRoot)
		c := exp.Cursor()
		for k, _ := c.First(); n < sweepBatch && expired(k); k, _ = c.First() {
			if err := nonces.Delete(k[8:]); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	}, 0)
	return n, err
}
