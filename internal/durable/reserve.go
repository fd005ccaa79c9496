package durable

import (
	"os"
	"sync"
	"time"
)

// ReserveSize is the space a Reserve holds back: for the control plane's SQLite store, a few
// hundred delete records with their audit rows and the WAL growth they cause; for the storage
// node's outbox, thousands of ObjectRemoved events.
const ReserveSize = 4 << 20

// ReserveRetry is how often a released Reserve is taken back by Take.
const ReserveRetry = time.Minute

// Reserve is a file of ReserveSize bytes beside a store's file. When the disk is full a delete
// is the change that must still be recorded — it is how space is freed — so a store whose write
// for a delete is refused for want of space releases a step of the file and tries once more in
// the room it leaves. The file is written whole again once there is space for it. Every store
// that holds room back uses this type, so that the rule lives in one place.
type Reserve struct {
	path  string
	step  int64 // what one Release gives back
	mu    sync.Mutex
	size  int64     // the bytes the file holds, written
	tried time.Time // the last attempt to make it whole
}

// NewReserve takes the reserve file at path, or as much of it as the disk has room for; each
// Release gives back step bytes of it (ReserveSize: all at once).
func NewReserve(path string, step int64) *Reserve {
	r := &Reserve{path: path, step: min(max(step, 1), ReserveSize)}
	if fi, err := os.Stat(path); err == nil && fi.Size() <= ReserveSize {
		r.size = fi.Size()
	}
	r.Take(time.Now())
	return r
}

// Take makes the reserve file whole if it is not; on a disk without room for all of it, it
// keeps what it held, and the next attempt is ReserveRetry later.
func (r *Reserve) Take(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size == ReserveSize || !r.tried.IsZero() && now.Sub(r.tried) < ReserveRetry {
		return
	}
	r.tried = now
	r.grow()
}

// Ensure reports whether the reserve holds any room, first trying to make it whole if it holds
// none, whatever the time of the last attempt: for a caller about to make a change that may
// need the room, and that refuses the change when there is none.
func (r *Reserve) Ensure() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size == 0 {
		r.tried = time.Now()
		r.grow()
	}
	return r.size > 0
}

// Release gives back one step of the reserve (the file is removed with its last byte) and
// reports whether it held space to free.
func (r *Reserve) Release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size == 0 {
		return false
	}
	// Made whole no sooner than ReserveRetry from now: the disk was full a moment ago.
	r.tried = time.Now()
	size := max(r.size-r.step, 0)
	var err error
	if size == 0 {
		err = os.Remove(r.path)
	} else {
		err = os.Truncate(r.path, size)
	}
	if err != nil {
		return false
	}
	r.size = size
	return true
}

// grow writes the reserve file up to ReserveSize and makes it durable: written, not sparse, so
// that the space is the file system's to give back. On a disk without room for all of it, the
// file is cut back to what it held. r.mu is held.
func (r *Reserve) grow() {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for n := r.size; n < ReserveSize && err == nil; n += int64(len(chunk)) {
		_, err = f.WriteAt(chunk[:min(int64(len(chunk)), ReserveSize-n)], n)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if f.Truncate(r.size) != nil || r.size == 0 {
			os.Remove(r.path)
			r.size = 0
		}
		return
	}
	r.size = ReserveSize
}
