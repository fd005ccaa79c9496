package control_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/control"
)

// loginFrom posts a login as the client addr (through the test server, a trusted proxy) and
// returns the status, the error code and the Retry-After header.
func (e *env) loginFrom(addr, user, password string) (int, string, string) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/login", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	var ae apiError
	json.NewDecoder(resp.Body).Decode(&ae)
	return resp.StatusCode, ae.Error, resp.Header.Get("Retry-After")
}

// behindProxy makes the test server a trusted proxy, so X-Forwarded-For names the client.
func behindProxy(c *control.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

// failedLogins counts the login.fail entries of the audit log: the passwords checked and
// found wrong.
func (e *env) failedLogins() int {
	e.t.Helper()
	var out struct{ Entries []struct{ Action string } }
	e.must(200, "GET", "/v1/audit?limit=1000", e.admin, nil, &out)
	n := 0
	for _, en := range out.Entries {
		if en.Action == "login.fail" {
			n++
		}
	}
	return n
}

// TestConcurrentWrongLoginsCheckNoMoreThanTheLimit: 45 concurrent wrong passwords for one user
// from one address have exactly the limit (10) checked, the rest refused with 429 and
// Retry-After before any hashing; the right password from that address is then refused too,
// while from another address the user logs in: an outsider does not lock the account out.
func TestConcurrentWrongLoginsCheckNoMoreThanTheLimit(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		behindProxy(c)
		c.HashQueue = 100 // this test is about the counting, not the queue
		c.HashParallelism = 64
	})
	e.user("ivan", nil)
	const attacker, tries, limit = "198.51.100.7", 45, 10
	statuses := make(map[int]int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			st, code, retry := e.loginFrom(attacker, "ivan", "wrong-password")
			mu.Lock()
			defer mu.Unlock()
			statuses[st]++
			if st == 429 && (code != "login_throttled" || retry == "") {
				t.Errorf("refusal %d %s without Retry-After (%q)", st, code, retry)
			}
		})
	}
	wg.Wait()
	if statuses[401] != limit || statuses[429] != tries-limit {
		t.Fatalf("answers %v: want %d checked (401) and %d refused (429)", statuses, limit, tries-limit)
	}
	if n := e.failedLogins(); n != limit {
		t.Fatalf("%d passwords were checked and found wrong, want %d", n, limit)
	}
	if st, code, _ := e.loginFrom(attacker, "ivan", "ivan-password"); st != 429 || code != "login_throttled" {
		t.Fatalf("the right password from the throttled address: %d %s, want 429", st, code)
	}
	if st, code, _ := e.loginFrom("203.0.113.20", "ivan", "ivan-password"); st != 200 {
		t.Fatalf("the user from another address: %d %s, want 200", st, code)
	}
}

// TestLoginLimitsPerUserPerAddressAndSessions: the per-address limit holds across usernames,
// the per-user limit across addresses, a right password does not use up the failure budget,
// and successful logins open at most SessionsPerUser sessions an hour.
func TestLoginLimitsPerUserPerAddressAndSessions(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		behindProxy(c)
		c.LoginFailuresPerUserAddress, c.LoginFailuresPerAddress, c.LoginFailuresPerUser = 2, 4, 5
		c.SessionsPerUser = 4 // e.user opens the first
	})
	e.user("judy", nil)
	e.user("kim", nil)
	steps := []struct {
		addr, user, password string
		want                 int
	}{
		{"192.0.2.1", "nobody1", "x-wrong-1", 401},
		{"192.0.2.1", "nobody2", "x-wrong-1", 401},
		{"192.0.2.1", "nobody3", "x-wrong-1", 401},
		{"192.0.2.1", "nobody4", "x-wrong-1", 401},
		{"192.0.2.1", "nobody5", "x-wrong-1", 429}, // the address's 4 are used, whatever the names
		{"192.0.2.1", "kim", "kim-password", 429},  // even for a right password
		// judy from four addresses: 2 each from one address, 5 in all.
		{"192.0.2.2", "judy", "x-wrong-1", 401},
		{"192.0.2.2", "judy", "judy-password", 200}, // refunded: still one failure here
		{"192.0.2.2", "judy", "x-wrong-1", 401},     // (from an address she logged in from:
		{"192.0.2.2", "judy", "x-wrong-1", 429},     // not held against the username)
		{"192.0.2.3", "judy", "x-wrong-1", 401},
		{"192.0.2.3", "judy", "x-wrong-1", 401},
		{"192.0.2.4", "judy", "x-wrong-1", 401},
		{"2001:db8:1:2::5", "judy", "x-wrong-1", 401}, // the 5th failure for judy
		{"2001:db8:9::5", "judy", "judy-password", 429},
		{"192.0.2.9", "kim", "kim-password", 200},
		{"192.0.2.9", "kim", "kim-password", 200},
		{"192.0.2.10", "kim", "kim-password", 200},
		{"192.0.2.10", "kim", "kim-password", 429}, // a 5th session in the hour
	}
	for i, s := range steps {
		if st, code, _ := e.loginFrom(s.addr, s.user, s.password); st != s.want {
			t.Fatalf("step %d (%s as %s): %d %s, want %d", i, s.addr, s.user, st, code, s.want)
		}
	}
}

// TestIPv6ClientsAreCountedPerSlash64: one host holds a whole /64, so its addresses share
// one count.
func TestIPv6ClientsAreCountedPerSlash64(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		behindProxy(c)
		c.LoginFailuresPerUserAddress = 2
	})
	e.user("lena", nil)
	for i, a := range []string{"2001:db8:5:6::1", "2001:db8:5:6::2"} {
		if st, _, _ := e.loginFrom(a, "lena", "x-wrong-1"); st != 401 {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	if st, _, _ := e.loginFrom("2001:db8:5:6:ffff::3", "lena", "lena-password"); st != 429 {
		t.Fatalf("a third address of the /64: %d, want 429", st)
	}
	if st, _, _ := e.loginFrom("2001:db8:5:7::1", "lena", "lena-password"); st != 200 {
		t.Fatalf("another /64: %d, want 200", st)
	}
}

// TestPasswordChecksQueueBoundedAndFairPerAddress: while hashing is saturated, an address
// has at most HashParallelism checks queued (its next attempt gets 429 at once), the queue
// holds at most HashQueue (the next check gets 503 busy at once), both with Retry-After, and
// the checks that were queued complete once hashing frees up, a login from another address
// among them.
func TestPasswordChecksQueueBoundedAndFairPerAddress(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		behindProxy(c)
		c.HashParallelism, c.HashQueue = 1, 2
	})
	e.user("mia", nil)
	release := e.svc.HoldHashSlots()
	type answer struct {
		st   int
		code string
	}
	queued := func(addr, password string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			st, code, _ := e.loginFrom(addr, "mia", password)
			ch <- answer{st, code}
		}()
		return ch
	}
	waitQueue := func(n int) {
		for e.svc.HashQueueLen() != n {
			runtime.Gosched()
		}
	}
	attacker := queued("198.51.100.1", "x-wrong-1")
	waitQueue(1)
	if st, code, retry := e.loginFrom("198.51.100.1", "mia", "x-wrong-2"); st != 429 || code != "login_throttled" || retry == "" {
		t.Fatalf("a second check from the address while its first waits: %d %s Retry-After %q, want 429 at once", st, code, retry)
	}
	user := queued("203.0.113.5", "mia-password")
	waitQueue(2)
	if st, code, retry := e.loginFrom("192.0.2.77", "mia", "x-wrong-3"); st != 503 || code != "busy" || retry == "" {
		t.Fatalf("a check with the queue full: %d %s Retry-After %q, want 503 busy at once", st, code, retry)
	}
	release()
	if a := <-attacker; a.st != 401 {
		t.Fatalf("the queued wrong password: %+v, want 401", a)
	}
	if a := <-user; a.st != 200 {
		t.Fatalf("the queued login: %+v, want 200", a)
	}
}

// TestABurstFromOneAddressLeavesOthersLoggingIn: 200 concurrent wrong logins from one
// address, over many usernames, have at most the address's limit checked and every other
// one refused at once with Retry-After, while a login from elsewhere in the middle of the
// burst succeeds.
func TestABurstFromOneAddressLeavesOthersLoggingIn(t *testing.T) {
	e := newEnv(t, behindProxy)
	e.user("noor", nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 200 {
		wg.Go(func() {
			st, _, retry := e.loginFrom("198.51.100.9", fmt.Sprintf("guess%d", i%20), "x-wrong-1")
			mu.Lock()
			defer mu.Unlock()
			statuses[st]++
			if st != 401 && retry == "" {
				t.Errorf("a %d without Retry-After", st)
			}
		})
		if i == 100 {
			if st, code, _ := e.loginFrom("203.0.113.8", "noor", "noor-password"); st != 200 {
				t.Errorf("a login from another address during the burst: %d %s", st, code)
			}
		}
	}
	wg.Wait()
	if statuses[401] > 50 || statuses[401]+statuses[429]+statuses[503] != 200 {
		t.Fatalf("answers %v: at most 50 checked, the rest refused", statuses)
	}
	if n := e.failedLogins(); n != statuses[401] {
		t.Fatalf("%d failures audited for %d answered 401", n, statuses[401])
	}
}

// TestOutsidersCannotLockAUserOutOfAnAddressSheLoggedInFrom: failures from many addresses use
// up the username's limit, which then refuses the right password from a new address; from an
// address the user logged in from before, she still logs in, and guessing from there is held
// to the limit per user and address.
func TestOutsidersCannotLockAUserOutOfAnAddressSheLoggedInFrom(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		behindProxy(c)
		c.LoginFailuresPerUserAddress, c.LoginFailuresPerAddress, c.LoginFailuresPerUser = 2, 4, 3
	})
	e.user("lena", nil)
	steps := []struct {
		addr, user, password string
		want                 int
	}{
		{"192.0.2.50", "lena", "lena-password", 200}, // her usual address
		{"2001:db8:5:6::1", "lena", "lena-password", 200},
		// Guessers from three addresses use up the username's 3 failures.
		{"198.51.100.1", "lena", "x-wrong-1", 401},
		{"198.51.100.1", "lena", "x-wrong-2", 401},
		{"198.51.100.2", "lena", "x-wrong-3", 401},
		{"198.51.100.3", "lena", "x-wrong-4", 429},
		{"192.0.2.77", "lena", "lena-password", 429},       // a new address is refused...
		{"192.0.2.50", "lena", "lena-password", 200},       // ...hers is not
		{"2001:db8:5:6::99", "lena", "lena-password", 200}, // nor is her /64
		{"192.0.2.50", "LENA", "lena-password", 200},       // the name as folded
		{"192.0.2.50", "lena", "x-wrong-5", 401},
		{"192.0.2.50", "lena", "x-wrong-6", 401},
		{"192.0.2.50", "lena", "x-wrong-7", 429}, // 2 per user and address, even there
	}
	for i, s := range steps {
		if st, code, _ := e.loginFrom(s.addr, s.user, s.password); st != s.want {
			t.Fatalf("step %d (%s as %s): %d %s, want %d", i, s.addr, s.user, st, code, s.want)
		}
	}
}

// TestAnAddressIsSparedForAtLeastHalfAWindowAndAtMostAWindow: the address a user logged in from
// is still spared the username's limit 14 days later, and no longer 31 days later (each user is
// looked at once: a right password remembers the address anew).
func TestAnAddressIsSparedForAtLeastHalfAWindowAndAtMostAWindow(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		behindProxy(c)
		c.LoginFailuresPerUserAddress, c.LoginFailuresPerAddress, c.LoginFailuresPerUser = 2, 4, 1
	})
	start := e.clock.Now()
	for _, u := range []string{"mona", "nell"} {
		e.user(u, nil)
		if st, code, _ := e.loginFrom("192.0.2.50", u, u+"-password"); st != 200 {
			t.Fatalf("%s's first login: %d %s", u, st, code)
		}
	}
	for _, c := range []struct {
		user  string
		after time.Duration // since both logged in
		want  int
	}{{"mona", 14 * 24 * time.Hour, 200}, {"nell", 31 * 24 * time.Hour, 429}} {
		e.clock.Advance(start.Add(c.after).Sub(e.clock.Now()))
		e.loginFrom("198.51.100.1", c.user, "x-wrong-1") // the username's one failure
		e.loginFrom("198.51.100.2", c.user, "x-wrong-2")
		if st, code, _ := e.loginFrom("192.0.2.50", c.user, c.user+"-password"); st != c.want {
			t.Fatalf("%s, %s after her login: %d %s, want %d", c.user, c.after, st, code, c.want)
		}
	}
}
