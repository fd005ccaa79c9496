package control_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/control"
)

// TestAuthorizationMatrix: who may call what. Anonymous callers and dead tokens get 401, a
// disabled user 403, a user on admin routes 403, and another user's things do not exist (404).
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, nil)
	aliceID, alice := e.user("alice", nil)
	_, bob := e.user("bob", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", alice, ticketReq("a.txt", 5, "text/plain"), &tk)

	var key control.APIKey
	e.must(201, "POST", "/v1/apikeys", alice, map[string]any{"name": "ci", "password": "alice-password"}, &key)
	if !strings.HasPrefix(key.Key, "psk_") || key.ID == "" {
		t.Fatalf("api key %+v", key)
	}
	e.must(201, "POST", "/v1/uploads", key.Key, ticketReq("b.txt", 5, "text/plain"), nil)
	var revoked control.APIKey
	e.must(201, "POST", "/v1/apikeys", alice, map[string]any{"name": "old", "password": "alice-password"}, &revoked)
	e.must(204, "DELETE", "/v1/apikeys/"+revoked.ID, alice, nil, nil)
	if st, _ := e.call("DELETE", "/v1/apikeys/"+key.ID, bob, nil, nil); st != 404 {
		t.Fatalf("bob revokes alice's key: %d", st)
	}
	var keys struct {
		APIKeys []control.APIKey `json:"api_keys"`
	}
	e.must(200, "GET", "/v1/apikeys", alice, nil, &keys)
	if len(keys.APIKeys) != 2 || keys.APIKeys[0].Key != "" {
		t.Fatalf("listed keys %+v (secrets must not be listed)", keys.APIKeys)
	}

	var adminKey control.APIKey
	e.must(201, "POST", "/v1/apikeys", e.admin, map[string]any{"name": "ops", "password": adminPassword}, &adminKey)

	loggedOut := e.login("bob", "bob-password")
	e.must(204, "POST", "/v1/logout", loggedOut, nil, nil)

	_, carol := e.user("carol", nil)
	var carolUser struct{ ID string }
	e.must(200, "GET", "/v1/me", carol, nil, &carolUser)
	e.must(200, "PATCH", "/v1/users/"+carolUser.ID, e.admin, control.UserChange{Disabled: ptr(true)}, nil)

	userRoutes := [][2]string{{"GET", "/v1/me"}, {"POST", "/v1/uploads"}, {"GET", "/v1/files"}, {"GET", "/v1/apikeys"},
		{"GET", "/v1/uploads/" + tk.ID}, {"POST", "/v1/logout"}}
	adminRoutes := [][2]string{{"GET", "/v1/users"}, {"POST", "/v1/users"}, {"PATCH", "/v1/users/" + aliceID},
		{"GET", "/v1/policy"}, {"PUT", "/v1/policy"}, {"GET", "/v1/audit"}}
	body := map[string]any{"filename": "x", "size": 1}
	for _, tc := range []struct {
		who    string
		token  string
		routes [][2]string
		status int
		code   string
	}{
		{"anonymous", "", append(userRoutes, adminRoutes...), 401, "unauthenticated"},
		{"garbage token", "pss_not-a-token", userRoutes, 401, "unauthenticated"},
		{"revoked API key", revoked.Key, userRoutes, 401, "unauthenticated"},
		{"logged-out session", loggedOut, userRoutes, 401, "unauthenticated"},
		{"disabled user's old session", carol, userRoutes, 401, "unauthenticated"},
		{"user on admin routes", alice, adminRoutes, 403, "forbidden"},
		{"user's API key on admin routes", key.Key, adminRoutes, 403, "forbidden"},
		{"other user's upload", bob, [][2]string{{"GET", "/v1/uploads/" + tk.ID}, {"DELETE", "/v1/uploads/" + tk.ID},
			{"POST", "/v1/uploads/" + tk.ID + "/complete"}, {"POST", "/v1/uploads/" + tk.ID + "/parts"}}, 404, "not_found"},
	} {
		for _, rt := range tc.routes {
			var b any
			if rt[0] == "POST" || rt[0] == "PUT" || rt[0] == "PATCH" {
				b = body
			}
			if strings.HasSuffix(rt[1], "/complete") {
				b = nil
			}
			if rt[1] == "/v1/uploads/"+tk.ID+"/parts" {
				b = map[string]any{"part_numbers": []int{1}}
			}
			if st, code := e.call(rt[0], rt[1], tc.token, b, nil); st != tc.status || code != tc.code {
				t.Errorf("%s: %s %s: got %d %s, want %d %s", tc.who, rt[0], rt[1], st, code, tc.status, tc.code)
			}
		}
	}
	// The disabled user cannot log in again; re-enabled, they can (with a new session).
	if st, code := e.call("POST", "/v1/login", "", map[string]string{"username": "carol", "password": "carol-password"}, nil); st != 403 || code != "account_disabled" {
		t.Fatalf("disabled login: %d %s", st, code)
	}
	e.must(200, "PATCH", "/v1/users/"+carolUser.ID, e.admin, control.UserChange{Disabled: ptr(false)}, nil)
	e.login("carol", "carol-password")
	// An admin's API key is an admin.
	e.must(200, "GET", "/v1/users", adminKey.Key, nil, nil)
	// The upload is still there for its owner.
	e.must(200, "GET", "/v1/uploads/"+tk.ID, alice, nil, nil)
}

func TestSessionsAndAPIKeysExpire(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.SessionTTL = time.Hour })
	_, tok := e.user("dora", nil)
	var key control.APIKey
	e.must(201, "POST", "/v1/apikeys", tok, map[string]any{"name": "short", "expires_in_seconds": 7200, "password": "dora-password"}, &key)
	e.clock.Advance(time.Hour + time.Second)
	if st, code := e.call("GET", "/v1/me", tok, nil, nil); st != 401 || code != "unauthenticated" {
		t.Fatalf("expired session: %d %s", st, code)
	}
	e.must(200, "GET", "/v1/me", key.Key, nil, nil)
	e.clock.Advance(time.Hour)
	if st, _ := e.call("GET", "/v1/me", key.Key, nil, nil); st != 401 {
		t.Fatalf("expired API key: %d", st)
	}
}

func TestFailedLoginsAreThrottledPerUserAndPerAddress(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		// erin logs in from this address first (e.user), where the limit per user and address
		// is hers: the one per username is not applied to an address she logged in from.
		c.LoginFailuresPerUserAddress, c.LoginFailuresPerUser, c.LoginFailuresPerAddress, c.LoginWindow = 3, 3, 5, 15*time.Minute
	})
	e.user("erin", nil)
	e.user("fred", nil)
	wrong := func(user string) (int, string) {
		return e.call("POST", "/v1/login", "", map[string]string{"username": user, "password": "wrong-password"}, nil)
	}
	for range 3 {
		if st, code := wrong("erin"); st != 401 || code != "invalid_credentials" {
			t.Fatalf("wrong password: %d %s", st, code)
		}
	}
	right := map[string]string{"username": "erin", "password": "erin-password"}
	if st, code := e.call("POST", "/v1/login", "", right, nil); st != 429 || code != "login_throttled" {
		t.Fatalf("after 3 failures even the right password: got %d %s, want 429", st, code)
	}
	e.login("fred", "fred-password") // another user is not affected
	// Unknown users count against the address: 3 (erin) + 2 more reach its limit of 5.
	wrong("nobody")
	wrong("nobody-else")
	if st, code := e.call("POST", "/v1/login", "", map[string]string{"username": "fred", "password": "fred-password"}, nil); st != 429 || code != "login_throttled" {
		t.Fatalf("after 5 failures from the address: got %d %s", st, code)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/login", strings.NewReader(`{"username":"fred","password":"x"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("a throttled login has no Retry-After")
	}
	e.clock.Advance(15 * time.Minute)
	e.login("erin", "erin-password")
}

// TestPolicyRefusalsNameTheRule: each limit of the policy refuses with its own code and a
// message naming the rule; user overrides beat the defaults, and the defaults can be changed.
func TestPolicyRefusalsNameTheRule(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.TicketsPerMinute = 5 })
	e.must(200, "PUT", "/v1/policy", e.admin, control.Policy{MaxObjectBytes: 1000, AllowedContentTypes: []string{"video/*", "text/plain"},
		QuotaBytes: 2500, MaxPendingUploads: 3, URLTTLSeconds: 60}, nil)
	_, tok := e.user("gus", nil)
	_, big := e.user("hal", &control.PolicyOverride{MaxObjectBytes: ptr(int64(0)), QuotaBytes: ptr(int64(0)), AllowedContentTypes: []string{"*/*"}})

	// refused sends the request and checks status, code, and that the message names the rule.
	refused := func(what, method, path, token string, body any, status int, code, rule string) {
		t.Helper()
		st, gotCode, msg := e.refusal(method, path, token, body)
		if st != status || gotCode != code {
			t.Errorf("%s: got %d %s (%q), want %d %s", what, st, gotCode, msg, status, code)
		} else if !strings.Contains(msg, rule) {
			t.Errorf("%s: message %q does not name the rule %s", what, msg, rule)
		}
	}
	for _, tc := range []struct {
		name   string
		token  string
		req    control.TicketRequest
		status int
		code   string
		rule   string
	}{
		{"size", tok, ticketReq("a.mp4", 1001, "video/mp4"), 413, "object_too_large", "max_object_bytes"},
		{"type", tok, ticketReq("a.png", 10, "image/png"), 415, "content_type_refused", "allowed_content_types"},
		{"size without a policy limit", big, ticketReq("huge.bin", control.MaxObjectSize+1, "video/mp4"), 413, "object_too_large", "largest object the store can hold"},
	} {
		refused(tc.name, "POST", "/v1/uploads", tc.token, tc.req, tc.status, tc.code, tc.rule)
	}
	// Quota: 1000 + 1000 pending fit in 2500; another 1000 does not.
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("1.mp4", 1000, "video/mp4"), nil)
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("2.mp4", 1000, "Video/MP4; codecs=avc1"), nil)
	refused("quota", "POST", "/v1/uploads", tok, ticketReq("3.mp4", 1000, "video/mp4"), 403, "quota_exceeded", "quota_bytes")
	// Pending: the third upload fits the quota but not max_pending_uploads 3... after one more.
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("3.txt", 10, "text/plain"), nil)
	refused("pending", "POST", "/v1/uploads", tok, ticketReq("4.txt", 10, "text/plain"), 409, "too_many_pending", "max_pending_uploads")
	// Rate: 5 tickets a minute, refused ones count too (this is gus's sixth request).
	refused("rate", "POST", "/v1/uploads", tok, ticketReq("5.txt", 10, "text/plain"), 429, "rate_limited", "ticket rate limit")
	// Overrides: hal has no size or quota limit, any type.
	e.must(201, "POST", "/v1/uploads", big, ticketReq("x.png", 50_000, "image/png"), nil)
	var me control.Me
	e.must(200, "GET", "/v1/me", big, nil, &me)
	if me.Effective.MaxObjectBytes != 0 || me.Effective.MaxPendingUploads != 3 || me.Effective.URLTTLSeconds != 60 {
		t.Fatalf("effective policy %+v", me.Effective)
	}
	// Bad policies are refused, naming the field, and change nothing.
	refused("a TTL over 7 days", "PUT", "/v1/policy", e.admin, map[string]any{"url_ttl_seconds": 604801}, 400, "invalid_request", "url_ttl_seconds")
	refused("a negative quota", "PUT", "/v1/policy", e.admin, map[string]any{"quota_bytes": -1}, 400, "invalid_request", "quota_bytes")
	var p control.Policy
	e.must(200, "GET", "/v1/policy", e.admin, nil, &p)
	if p.URLTTLSeconds != 60 || p.QuotaBytes != 2500 {
		t.Fatalf("policy changed by a refused PUT: %+v", p)
	}
}

func TestAdminsCreateListAndChangeUsers(t *testing.T) {
	e := newEnv(t, nil)
	e.user("ann", nil)
	if st, code := e.call("POST", "/v1/users", e.admin, control.NewUser{Username: "ann", Password: "another-password"}, nil); st != 409 || code != "conflict" {
		t.Fatalf("duplicate username: %d %s", st, code)
	}
	for _, bad := range []control.NewUser{{Username: "", Password: "long-enough"}, {Username: "x y", Password: "long-enough"},
		{Username: "ok", Password: "short"}, {Username: "ok", Password: "long-enough", Policy: &control.PolicyOverride{QuotaBytes: ptr(int64(-5))}}} {
		if st, _ := e.call("POST", "/v1/users", e.admin, bad, nil); st != 400 {
			t.Errorf("user %+v: %d", bad, st)
		}
	}
	var list struct {
		Users []control.UserView `json:"users"`
	}
	e.must(200, "GET", "/v1/users?limit=1", e.admin, nil, &list)
	if len(list.Users) != 1 || list.Users[0].Username != "admin" {
		t.Fatalf("first page %+v", list.Users)
	}
	e.must(200, "GET", "/v1/users?after=admin", e.admin, nil, &list)
	if len(list.Users) != 1 || list.Users[0].Username != "ann" {
		t.Fatalf("second page %+v", list.Users)
	}
	var u control.UserView
	e.must(200, "PATCH", "/v1/users/"+list.Users[0].ID, e.admin, control.UserChange{Policy: &control.PolicyOverride{MaxPendingUploads: ptr(7)}}, &u)
	if u.Policy.MaxPendingUploads == nil || *u.Policy.MaxPendingUploads != 7 {
		t.Fatalf("updated user %+v", u)
	}
	if st, _ := e.call("PATCH", "/v1/users/no-such-user", e.admin, control.UserChange{Disabled: ptr(true)}, nil); st != 404 {
		t.Fatalf("unknown user: %d", st)
	}
}
