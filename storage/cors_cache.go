package storage

import (
	"sync"
	"time"
)

// Browsers send a preflight before most requests and an Origin with each, so every one of them
// needs the bucket's CORS rules; through a gateway that is a round trip to the cluster each
// time. The node keeps the rules it read for corsCacheTTL. A change made through this node
// applies at once; one made through another node within corsCacheTTL, as S3's own CORS
// changes take a while to reach every endpoint.
const (
	corsCacheTTL = 5 * time.Second
	// corsCacheMax bounds the buckets remembered; past it the cache starts over.
	corsCacheMax = 4096
)

// corsCache remembers the CORS rules of buckets for a short while.
type corsCache struct {
	mu  sync.Mutex
	m   map[string]corsCached
	gen uint64 // counts forgets, so that a read that began before one is not remembered
}

type corsCached struct {
	rules []CORSRule
	until time.Time
}

// get returns the rules of bucket if they were read less than corsCacheTTL ago, and in any
// case the generation a read starting now must pass to put.
func (c *corsCache) get(bucket string, now time.Time) (rules []CORSRule, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[bucket]
	if ok && now.Before(e.until) {
		return e.rules, true, c.gen
	}
	return nil, false, c.gen
}

// put remembers the rules of bucket read at now, unless a forget happened since get gave gen.
func (c *corsCache) put(bucket string, rules []CORSRule, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= corsCacheMax {
		c.m = make(map[string]corsCached)
	}
	c.m[bucket] = corsCached{rules: rules, until: now.Add(corsCacheTTL)}
}

// forget drops what is remembered of bucket, after its rules changed or it was deleted.
func (c *corsCache) forget(bucket string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, bucket)
}
