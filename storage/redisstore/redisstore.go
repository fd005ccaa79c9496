// Package redisstore keeps what several storage nodes must share — consumed X-Presign-Once
// nonces and revocations — in Redis, so that a once-URL works once across all nodes and a
// revocation recorded through any node refuses the URL at every node at once.
//
// Keys, under a prefix ("presign:" by default):
//
//	<prefix>nonce:<nonce>     a consumed nonce, set with SET NX, expiring when its URL does
//	<prefix>rev:id:<id>       a revoked ticket, expiring at the revocation's Until
//	<prefix>rev:user:<user>   the Before time of a user's revocation (Unix ms), expiring at Until
//
// Every check reads Redis directly (one round trip), so there is no cache to go stale. When
// Redis cannot be reached, calls fail: the node then answers 503 rather than let a used
// once-URL or a revoked URL through, and serves them again as soon as Redis answers (the
// client redials by itself). The URL's query sets the client's timeouts and retries
// (dial_timeout, read_timeout, write_timeout, max_retries: see redis.ParseURL).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"presign/storage"
)

// Store is a storage.NonceStore and storage.RevocationStore in Redis. It is safe for
// concurrent use.
type Store struct {
	c      *redis.Client
	prefix string
	now    func() time.Time
}

var (
	_ storage.NonceStore      = (*Store)(nil)
	_ storage.RevocationStore = (*Store)(nil)
)

// Options configure a Store.
type Options struct {
	// URL is a redis:// or rediss:// URL, e.g. "redis://127.0.0.1:6379/0". Required.
	URL string
	// Prefix goes in front of every key; "presign:" when empty.
	Prefix string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Open connects to Redis and checks that it answers and is at least version 7 (for
// PEXPIRETIME).
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.URL == "" {
		return nil, errors.New("redisstore: Options need a URL")
	}
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := &Store{c: redis.NewClient(ro), prefix: opts.Prefix, now: opts.Now}
	if s.prefix == "" {
		s.prefix = "presign:"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.c.Ping(ctx).Err(); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("redisstore: %s: %w", ro.Addr, err)
	}
	if err := s.c.Do(ctx, "PEXPIRETIME", s.prefix+"probe").Err(); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("redisstore: %s needs Redis 7 or later: %w", ro.Addr, err)
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.c.Close() }

// Consume implements storage.NonceStore with SET NX, which Redis applies atomically: of any
// number of nodes consuming one nonce at once, exactly one gets first=true. The key expires
// when the URL does (and at least a second from now).
func (s *Store) Consume(ctx context.Context, nonce string, until time.Time) (bool, error) {
	until = later(until, s.now().Add(time.Second))
	ok, err := s.c.SetArgs(ctx, s.prefix+"nonce:"+nonce, 1, redis.SetArgs{Mode: "NX", ExpireAt: until}).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: consume nonce: %w", err)
	}
	return ok == "OK", nil
}

// Release implements storage.NonceStore.
func (s *Store) Release(ctx context.Context, nonce string) error {
	if err := s.c.Del(ctx, s.prefix+"nonce:"+nonce).Err(); err != nil {
		return fmt.Errorf("redisstore: release nonce: %w", err)
	}
	return nil
}

// keepLater stores the greater of the stored and the given value, expiring at the later of
// the stored and the given time, in one atomic step.
var keepLater = redis.NewScript(`
local v = tonumber(ARGV[1])
local exp = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) > v then v = tonumber(cur) end
local curexp = redis.call('PEXPIRETIME', KEYS[1])
if curexp > exp then exp = curexp end
redis.call('SET', KEYS[1], v, 'PXAT', exp)
return 1
`)

// Revoke implements storage.RevocationStore.
func (s *Store) Revoke(ctx context.Context, r storage.Revocation) error {
	// A ticket's value is the cut-off in Unix ms; allURLs when every URL of it is revoked,
	// which keepLater then keeps over any cut-off.
	key, value := s.prefix+"rev:id:"+r.ID, r.Before.UnixMilli()
	if r.Before.IsZero() {
		value = allURLs
	}
	if r.User != "" {
		key, value = s.prefix+"rev:user:"+r.User, r.Before.UnixMilli()
	}
	until := later(r.Until, s.now().Add(time.Second))
	if err := keepLater.Run(ctx, s.c, []string{key}, value, until.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	return nil
}

// Revoked implements storage.RevocationStore with one MGET.
func (s *Store) Revoked(ctx context.Context, id, user string, signedAt time.Time) (bool, error) {
	keys := make([]string, 0, 2)
	if id != "" {
		keys = append(keys, s.prefix+"rev:id:"+id)
	}
	if user != "" {
		keys = append(keys, s.prefix+"rev:user:"+user)
	}
	if len(keys) == 0 {
		return false, nil
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: check revocation: %w", err)
	}
	if id != "" {
		if vals[0] != nil {
			var before int64
			if _, err := fmt.Sscan(vals[0].(string), &before); err != nil {
				return false, fmt.Errorf("redisstore: revocation of ticket %q holds %q", id, vals[0])
			}
			// 0 is how versions without cut-offs recorded a revocation of all the URLs.
			if before == 0 || before == allURLs || signedAt.UnixMilli() < before {
				return true, nil
			}
		}
		vals = vals[1:]
	}
	if user != "" && vals[0] != nil {
		var before int64
		if _, err := fmt.Sscan(vals[0].(string), &before); err != nil {
			return false, fmt.Errorf("redisstore: revocation of user %q holds %q", user, vals[0])
		}
		return signedAt.UnixMilli() < before, nil
	}
	return false, nil
}

// allURLs is the value of a ticket revocation without a cut-off: a cut-off later than any
// URL's date (the year 2286), small enough that Lua's number formatting in keepLater keeps
// its digits.
const allURLs = int64(9_999_999_999_999)

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
