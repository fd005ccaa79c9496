package sqlite

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"time"
)

// reserveSize is the space the Store holds back for deletes: a few hundred delete records
// with their audit rows, and the WAL and checkpoint growth they cause.
const reserveSize = 4 << 20

// reserveRetry is how often a released reserve is taken back, once a change commits.
const reserveRetry = time.Minute

// reserve is a file of reserveSize bytes beside the database. When the disk is full a delete
// is the change that must still be recorded — it is how space is freed — so a delete refused
// for want of space removes the file and is tried once more in the room it leaves. The file
// is written again once there is space for it.
type reserve struct {
	path  string
	mu    sync.Mutex
	held  bool      // the file is there, whole
	tried time.Time // the last attempt to write it
}

func newReserve(path string) *reserve {
	r := &reserve{path: path}
	r.take(time.Now())
	return r
}

// take writes the reserve file if it is not held; on a disk without room for it, it leaves
// none, and the next attempt is reserveRetry later.
func (r *reserve) take(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held || !r.tried.IsZero() && now.Sub(r.tried) < reserveRetry {
		return
	}
	r.tried = now
	if fi, err := os.Stat(r.path); err == nil && fi.Size() == reserveSize {
		r.held = true
		return
	}
	if err := writeReserve(r.path); err != nil {
		os.Remove(r.path)
		return
	}
	r.held = true
}

// release removes the reserve file and reports whether it held space to free.
func (r *reserve) release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held {
		return false
	}
	r.held = false
	// Taken back no sooner than reserveRetry from now: the disk was full a moment ago.
	r.tried = time.Now()
	return os.Remove(r.path) == nil
}

// writeReserve writes reserveSize bytes at path and makes them durable: written, not sparse,
// so that the space is the file system's to give back.
func writeReserve(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte{0}, 64<<10)
	for n := 0; n < reserveSize && err == nil; n += len(chunk) {
		_, err = f.Write(chunk)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
