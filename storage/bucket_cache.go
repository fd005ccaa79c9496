package storage

import (
	"sync"
	"time"
)

// A bucket's configuration (CORS rules, policy) is needed by requests that come often and
// cheaply (browser preflights, anonymous reads of public thumbnails); through a gateway each
// read is a round trip to the cluster. The node keeps what it read for bucketCacheTTL. A
// change made through this node applies at once; one made through another node within
// bucketCacheTTL, as S3's own configuration changes take a while to reach every endpoint.
const (
	bucketCacheTTL = 5 * time.Second
	// bucketCacheMax bounds the buckets remembered; past it the cache starts over.
	bucketCacheMax = 4096
)

// bucketCache remembers one kind of bucket configuration for a short while.
type bucketCache[T any] struct {
	mu  sync.Mutex
	m   map[string]bucketCached[T]
	gen uint64 // counts forgets, so that a read that began before one is not remembered
}

type bucketCached[T any] struct {
	v     T
	until time.Time
}

// get returns the configuration of bucket if it was read less than bucketCacheTTL ago, and in
// any case the generation a read starting now must pass to put.
func (c *bucketCache[T]) get(bucket string, now time.Time) (v T, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[bucket]
	if ok && now.Before(e.until) {
		return e.v, true, c.gen
	}
	var zero T
	return zero, false, c.gen
}

// put remembers the configuration of bucket read at now, unless a forget happened since get
// gave gen.
func (c *bucketCache[T]) put(bucket string, v T, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= bucketCacheMax {
		c.m = make(map[string]bucketCached[T])
	}
	c.m[bucket] = bucketCached[T]{v: v, until: now.Add(bucketCacheTTL)}
}

// forget drops what is remembered of bucket, after its configuration changed or it was
// deleted.
func (c *bucketCache[T]) forget(bucket string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, bucket)
}
