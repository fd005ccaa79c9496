package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestServeReconcilerSettlesOverdueUploads: with events off and one-second URLs, the reconciler
// expires a ticket that was never used (its URL then fails at the storage node too), completes
// an upload whose object arrived without a complete call, and fails (and deletes) an object
// that does not match its ticket.
func TestServeReconcilerSettlesOverdueUploads(t *testing.T) {
	p := serveProcess(t, "--events=false", "--reconcile-interval", "100ms", "--reconcile-grace", "0")
	erin, _ := adminAPI(t, p).newUser("erin", map[string]any{"url_ttl_seconds": 1})
	newTicket := func(size int) ticket {
		var tk ticket
		erin.must(201, "POST", "/v1/uploads", map[string]any{"filename": "r.txt", "size": size, "content_type": "text/plain"}, &tk)
		return tk
	}
	unused, arrived, wrong := newTicket(4), newTicket(4), newTicket(4)
	if st, code := put(t, arrived, []byte("four")); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	if st, code := put(t, wrong, []byte("two")); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	u := erin.waitState(unused.ID, "expired", 10*time.Second)
	if !strings.Contains(u.FailReason, "expired") {
		t.Fatalf("fail reason %q", u.FailReason)
	}
	erin.waitState(arrived.ID, "completed", 10*time.Second)
	erin.waitState(wrong.ID, "failed", 10*time.Second)
	if st, code := put(t, unused, []byte("late")); st != 403 || code != "AccessDenied" {
		t.Fatalf("PUT with the expired URL: %d %s", st, code)
	}
	s3c := rootS3(t, p)
	if objectStored(t, s3c, wrong.Key) || objectStored(t, s3c, unused.Key) || !objectStored(t, s3c, arrived.Key) {
		t.Fatal("storage does not hold exactly the completed upload's object")
	}
	var me struct {
		Usage struct {
			Bytes   int64 `json:"bytes"`
			Pending int   `json:"pending_uploads"`
		} `json:"usage"`
	}
	erin.must(200, "GET", "/v1/me", nil, &me)
	if me.Usage.Bytes != 4 || me.Usage.Pending != 0 {
		t.Fatalf("usage %+v: want the one completed file's 4 bytes", me.Usage)
	}
}

// TestServeAuthorizationAndPolicy: the authorization matrix and the policy refusals against
// the real process.
func TestServeAuthorizationAndPolicy(t *testing.T) {
	p := serveProcess(t, "--session-ttl", "3s", "--ticket-rate", "6")
	admin := adminAPI(t, p)
	admin.must(200, "PUT", "/v1/policy", map[string]any{"max_object_bytes": 1000, "allowed_content_types": []string{"image/*"},
		"quota_bytes": 1500, "max_pending_uploads": 2, "url_ttl_seconds": 600}, nil)
	fay, fayID := admin.newUser("fay", nil)
	gil, _ := admin.newUser("gil", nil)
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	fay.must(201, "POST", "/v1/apikeys", map[string]any{"name": "server", "password": "fay-password"}, &key)
	withKey := fay.as(key.Key)

	img := func(size int) map[string]any {
		return map[string]any{"filename": "p.png", "size": size, "content_type": "image/png"}
	}
	var tk ticket
	withKey.must(201, "POST", "/v1/uploads", img(700), &tk)
	if st, code := put(t, tk, make([]byte, 700)); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	fay.waitState(tk.ID, "completed", 10*time.Second)

	for _, tc := range []struct {
		name   string
		a      *api
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"anonymous ticket", fay.as(""), "POST", "/v1/uploads", img(1), 401, "unauthenticated"},
		{"anonymous download", fay.as(""), "GET", "/v1/files/" + tk.ID + "/download", nil, 401, "unauthenticated"},
		{"other user's file", gil, "GET", "/v1/files/" + tk.ID, nil, 404, "not_found"},
		{"other user's download", gil, "GET", "/v1/files/" + tk.ID + "/download", nil, 404, "not_found"},
		{"other user's delete", gil, "DELETE", "/v1/files/" + tk.ID, nil, 404, "not_found"},
		{"user on admin route", fay, "GET", "/v1/users", nil, 403, "forbidden"},
		{"size", fay, "POST", "/v1/uploads", img(1001), 413, "object_too_large"},
		{"type", fay, "POST", "/v1/uploads", map[string]any{"filename": "v.mp4", "size": 1, "content_type": "video/mp4"}, 415, "content_type_refused"},
		{"quota", fay, "POST", "/v1/uploads", img(900), 403, "quota_exceeded"},
	} {
		if st, code := tc.a.call(tc.method, tc.path, tc.body, nil); st != tc.status || code != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, st, code, tc.status, tc.code)
		}
	}
	fay.must(201, "POST", "/v1/uploads", img(10), nil)
	fay.must(201, "POST", "/v1/uploads", img(10), nil)
	if st, code := fay.call("POST", "/v1/uploads", img(10), nil); st != 409 || code != "too_many_pending" {
		t.Fatalf("pending: %d %s", st, code)
	}
	// Rate: 6 tickets a minute per user. The window is a calendar minute, so the check only
	// holds when no minute boundary fell between the first and the seventh ticket.
	hal, _ := admin.newUser("hal", map[string]any{"max_pending_uploads": 0, "quota_bytes": 0})
	for {
		first := time.Now().Truncate(time.Minute)
		for i := range 6 {
			if st, code := hal.call("POST", "/v1/uploads", img(1), nil); st != 201 && time.Now().Truncate(time.Minute).Equal(first) {
				t.Fatalf("ticket %d of 6: %d %s", i+1, st, code)
			}
		}
		st, code := hal.call("POST", "/v1/uploads", img(1), nil)
		if time.Now().Truncate(time.Minute).Equal(first) {
			if st != 429 || code != "rate_limited" {
				t.Fatalf("seventh ticket in a minute: %d %s", st, code)
			}
			break
		}
		time.Sleep(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)))
	}

	withKey.must(204, "DELETE", "/v1/apikeys/"+key.ID, nil, nil)
	if st, code := withKey.call("GET", "/v1/files", nil, nil); st != 401 || code != "unauthenticated" {
		t.Fatalf("revoked API key: %d %s", st, code)
	}
	admin.must(200, "PATCH", "/v1/users/"+fayID, map[string]any{"disabled": true}, nil)
	if st, code := fay.call("GET", "/v1/files", nil, nil); st != 401 {
		t.Fatalf("disabled user's session: %d %s", st, code)
	}
	if st, code := fay.as("").call("POST", "/v1/login", map[string]string{"username": "fay", "password": "fay-password"}, nil); st != 403 || code != "account_disabled" {
		t.Fatalf("disabled user's login: %d %s", st, code)
	}
	time.Sleep(3 * time.Second)
	if st, code := gil.call("GET", "/v1/files", nil, nil); st != 401 || code != "unauthenticated" {
		t.Fatalf("expired session: %d %s", st, code)
	}
}
