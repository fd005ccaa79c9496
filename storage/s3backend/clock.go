package s3backend

import (
	"sync"
	"time"
)

// clock issues Sequencers: hybrid logical clock values, the wall clock in microseconds since
// the Unix epoch shifted left by 8 bits, with the node's id in those 8 bits. A value is the
// current time when the clock is ahead of the last value, and the last value plus one tick
// otherwise, so values are unique and strictly increasing on one node however many changes
// share a microsecond or however the wall clock steps back while the process runs. Nodes with
// distinct ids never issue the same value, and values of different nodes order as their wall
// clocks did (to within their skew). The layout fits in 63 bits until the year 3111.
type clock struct {
	mu   sync.Mutex
	last uint64
	node uint64
	now  func() time.Time
}

const clockTick = 1 << 8

func newClock(node uint8, now func() time.Time) *clock {
	return &clock{node: uint64(node), now: now}
}

// next returns a value greater than every value issued before.
func (c *clock) next() uint64 {
	v := uint64(c.now().UnixMicro())<<8 | c.node
	c.mu.Lock()
	defer c.mu.Unlock()
	if v <= c.last {
		v = c.last + clockTick
	}
	c.last = v
	return v
}

// keyLocks serializes the commits of one key on this node, so that the order of their
// Sequencers is the order in which the service applied them.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

// lock takes the lock of name and returns its release.
func (l *keyLocks) lock(name string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*keyLock)
	}
	k := l.locks[name]
	if k == nil {
		k = &keyLock{}
		l.locks[name] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.locks, name)
		}
		l.mu.Unlock()
	}
}
