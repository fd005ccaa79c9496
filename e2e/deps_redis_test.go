package e2e

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"

	"presign/internal/testenv/redisenv"
)

// TestOnceURLsFailClosedWhileRedisIsDownAndRecoverWithoutARestart: a node sharing nonces and
// revocations through Redis answers 503 to every URL that needs Redis while it is down, so a
// used single-use URL is never accepted twice, and keeps serving the URLs that do not need it.
// When Redis is back (with what it had acknowledged), the same node works again.
func TestOnceURLsFailClosedWhileRedisIsDownAndRecoverWithoutARestart(t *testing.T) {
	redis := redisenv.Start(t)
	node := storageNode(t, "--redis", redis.URL)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "deps")
	now := time.Now()
	sign := func(method, key string, q url.Values) string {
		return presignURL(t, method, ep, "/deps/"+key, q, nil, now, time.Hour)
	}
	body := []byte("once and only once")
	used := sign(http.MethodPut, "used", url.Values{"X-Presign-Once": {"nonce-used"}})
	if st, code, _ := httpDo(t, http.MethodPut, used, nil, bytes.NewReader(body)); st != 200 {
		t.Fatalf("first use of a once-URL: %d %s", st, code)
	}
	if st, code, _ := httpDo(t, http.MethodPut, used, nil, bytes.NewReader(body)); st != 403 {
		t.Fatalf("second use of a once-URL: %d %s, want 403", st, code)
	}

	redis.Kill()
	fresh := sign(http.MethodPut, "fresh", url.Values{"X-Presign-Once": {"nonce-fresh"}})
	refused := []struct {
		name, method, url string
	}{
		{"a used once-URL", http.MethodPut, used},
		{"a fresh once-URL", http.MethodPut, fresh},
		{"a URL of a ticket that may be revoked", http.MethodGet, sign(http.MethodGet, "used", url.Values{"X-Presign-Id": {"ticket-1"}})},
	}
	for _, c := range refused {
		st, code, b := httpDo(t, c.method, c.url, nil, bytes.NewReader(body))
		if st != http.StatusServiceUnavailable || code != "ServiceUnavailable" {
			t.Errorf("%s with Redis down: %d %s, want 503 ServiceUnavailable\n%s", c.name, st, code, b)
		}
	}
	if objectExists(t, ep, "deps", "fresh") {
		t.Error("a once-URL refused for want of Redis stored its object")
	}
	// URLs that carry no single-use nonce and no ticket are served as ever.
	if st, code, _ := httpDo(t, http.MethodPut, sign(http.MethodPut, "plain", nil), nil, bytes.NewReader(body)); st != 200 {
		t.Errorf("plain presigned PUT with Redis down: %d %s", st, code)
	}
	if st, code, b := httpDo(t, http.MethodGet, sign(http.MethodGet, "plain", nil), nil, nil); st != 200 || !bytes.Equal(b, body) {
		t.Errorf("plain presigned GET with Redis down: %d %s", st, code)
	}

	redis.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, code, _ := httpDo(t, http.MethodPut, fresh, nil, bytes.NewReader(body))
		if st == 200 {
			break
		}
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("fresh once-URL after Redis came back: %d %s\n%s", st, code, node.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, u := range []string{used, fresh} {
		if st, code, _ := httpDo(t, http.MethodPut, u, nil, bytes.NewReader(body)); st != 403 {
			t.Errorf("a used once-URL after Redis came back: %d %s, want 403", st, code)
		}
	}
}
