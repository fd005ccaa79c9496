package storage

import (
	"fmt"
	"testing"
	"time"
)

// TestBucketCacheIsBounded: past bucketCacheMax buckets the cache starts over rather than grow,
// and a read that began before a forget is not remembered.
func TestBucketCacheIsBounded(t *testing.T) {
	var c bucketCache[[]CORSRule]
	now := time.Now()
	for i := range bucketCacheMax + 10 {
		_, _, gen := c.get(fmt.Sprint("b", i), now)
		c.put(fmt.Sprint("b", i), nil, now, gen)
		if len(c.m) > bucketCacheMax {
			t.Fatalf("%d buckets remembered, at most %d allowed", len(c.m), bucketCacheMax)
		}
	}
	_, _, gen := c.get("late", now)
	c.forget("other")
	c.put("late", []CORSRule{{AllowedOrigins: []string{"*"}}}, now, gen)
	if _, ok, _ := c.get("late", now); ok {
		t.Fatal("rules read before a forget were remembered")
	}
	_, _, gen = c.get("late", now)
	c.put("late", nil, now, gen)
	if _, ok, _ := c.get("late", now.Add(bucketCacheTTL)); ok {
		t.Fatal("rules remembered past bucketCacheTTL")
	}
}
