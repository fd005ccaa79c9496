package s3backend

import (
	"sync"
	"testing"
	"time"
)

func TestClockStrictlyIncreasingThroughClockSteps(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	times := []time.Time{base, base, base.Add(time.Microsecond), base.Add(-time.Hour), base.Add(time.Second), base.Add(time.Second)}
	i := 0
	c := newClock(42, func() time.Time { return times[min(i, len(times)-1)] })
	var last uint64
	for i = range times {
		v := c.next()
		if v <= last {
			t.Fatalf("value %d = %d, not above %d", i, v, last)
		}
		if v&0xff != 42 {
			t.Fatalf("value %d = %#x does not carry the node id", i, v)
		}
		last = v
	}
	if got := time.UnixMicro(int64(last >> 8)); got.Before(base.Add(time.Second)) {
		t.Fatalf("last value stands for %v, behind the wall clock", got)
	}
}

func TestClockUniqueAcrossGoroutinesAndNodes(t *testing.T) {
	now := time.Now
	a, b := newClock(1, now), newClock(2, now)
	var mu sync.Mutex
	seen := make(map[uint64]bool)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			c := a
			if g%2 == 1 {
				c = b
			}
			for range 1000 {
				v := c.next()
				mu.Lock()
				if seen[v] {
					t.Errorf("value %d issued twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
