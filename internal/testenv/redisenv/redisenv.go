// Package redisenv finds the Redis server tests use: PRESIGN_REDIS_URL, or the one at
// 127.0.0.1:6379. When none answers, tests are skipped — except under CI=true, where they fail.
package redisenv

import (
	"crypto/rand"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"presign/internal/testenv"
)

// URL returns the redis:// URL of the test Redis, skipping (or under CI failing) t when it
// does not answer.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PRESIGN_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	pu, err := url.Parse(u)
	if err == nil {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", pu.Host, 2*time.Second); err == nil {
			c.Close()
			return u
		}
	}
	testenv.Missing(t, "Redis at %s not available: %v", u, err)
	return ""
}

// Prefix returns a key prefix no other test uses, so that tests sharing one Redis (and runs
// that follow each other) never see each other's keys.
func Prefix() string {
	return "presign-test:" + rand.Text()[:12] + ":"
}
