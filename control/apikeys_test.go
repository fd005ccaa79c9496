package control_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"presign/control"
)

// TestAPIKeyCreationNeedsTheSessionAndThePassword: a key is made only from a session with the
// password given again; a key cannot mint keys, and a wrong or missing password makes none.
func TestAPIKeyCreationNeedsTheSessionAndThePassword(t *testing.T) {
	e := newEnv(t, nil)
	_, sess := e.user("olga", nil)
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
		code string
	}{
		{"no password", map[string]any{"name": "ci"}, 400, "invalid_request"},
		{"wrong password", map[string]any{"name": "ci", "password": "not-her-password"}, 401, "invalid_credentials"},
		{"too long a life", map[string]any{"name": "ci", "password": "olga-password", "expires_in_seconds": 91 * 24 * 3600}, 400, "invalid_request"},
	} {
		if st, code := e.call("POST", "/v1/apikeys", sess, tc.body, nil); st != tc.want || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, st, code, tc.want, tc.code)
		}
	}
	var key control.APIKey
	e.must(201, "POST", "/v1/apikeys", sess, map[string]any{"name": "ci", "password": "olga-password"}, &key)
	if d := key.Expires.Sub(key.Created); d != control.DefaultAPIKeyTTL {
		t.Errorf("a key lives %v by default, want %v", d, control.DefaultAPIKeyTTL)
	}
	if st, code := e.call("POST", "/v1/apikeys", key.Key, map[string]any{"name": "child", "password": "olga-password"}, nil); st != 403 || code != "forbidden" {
		t.Fatalf("a key minting a key: %d %s, want 403 forbidden", st, code)
	}
	var l control.APIKeyList
	e.must(200, "GET", "/v1/apikeys", sess, nil, &l)
	if len(l.APIKeys) != 1 || l.APIKeys[0].ID != key.ID {
		t.Fatalf("keys %+v, want only the one made with the password", l.APIKeys)
	}
}

// TestAPIKeysAreCappedPerUserAndListedByPage: a user holds at most MaxAPIKeysPerUser active
// keys (a clear 409 past it; a revoked one frees its place), and the list walks every key once,
// newest first, a page at a time.
func TestAPIKeysAreCappedPerUserAndListedByPage(t *testing.T) {
	e := newEnv(t, nil)
	_, sess := e.user("pia", nil)
	made := make([]string, 0, control.MaxAPIKeysPerUser)
	for i := range control.MaxAPIKeysPerUser {
		var k control.APIKey
		e.must(201, "POST", "/v1/apikeys", sess, map[string]any{"name": fmt.Sprint("k", i), "password": "pia-password"}, &k)
		made = append(made, k.ID)
		e.clock.Advance(time.Second) // one order: created_at
	}
	st, code, msg := e.refusal("POST", "/v1/apikeys", sess, map[string]any{"name": "one more", "password": "pia-password"})
	if st != 409 || code != "too_many_api_keys" || msg == "" {
		t.Fatalf("past the cap: %d %s %q, want 409 too_many_api_keys", st, code, msg)
	}
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		q := url.Values{"limit": {"20"}}
		if after != "" {
			q.Set("after", after)
		}
		var l control.APIKeyList
		e.must(200, "GET", "/v1/apikeys?"+q.Encode(), sess, nil, &l)
		if len(l.APIKeys) > 20 || pages > 5 {
			t.Fatalf("page %d has %d keys", pages, len(l.APIKeys))
		}
		for _, k := range l.APIKeys {
			seen = append(seen, k.ID)
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if len(seen) != len(made) {
		t.Fatalf("the walk saw %d keys, want %d", len(seen), len(made))
	}
	for i, id := range seen {
		if id != made[len(made)-1-i] {
			t.Fatalf("key %d of the walk is %s, want %s (newest first)", i, id, made[len(made)-1-i])
		}
	}
	if st, code := e.call("GET", "/v1/apikeys?after=nope", sess, nil, nil); st != 400 || code != "invalid_request" {
		t.Errorf("a cursor that is no key: %d %s", st, code)
	}
	e.must(204, "DELETE", "/v1/apikeys/"+made[0], sess, nil, nil)
	e.must(201, "POST", "/v1/apikeys", sess, map[string]any{"name": "replacement", "password": "pia-password"}, nil)
}
