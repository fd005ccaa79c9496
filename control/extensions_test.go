package control_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"presign/control"
	"presign/control/bucket"
)

func TestWithoutExtensionsAPUTIsHeldToItsSizeAndOneObjectBySignedHeaders(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.Extensions = control.ExtensionsOff })
	_, tok := e.user("ana", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("a.txt", 5, "text/plain"), &tk)
	u, _ := url.Parse(tk.URL)
	for k := range u.Query() {
		if strings.HasPrefix(strings.ToLower(k), "x-presign-") {
			t.Fatalf("a URL for a store without the extensions carries %s: %s", k, tk.URL)
		}
	}
	if got := u.Query().Get("X-Amz-SignedHeaders"); got != "content-length;content-type;host;if-none-match" {
		t.Fatalf("signed headers %q", got)
	}
	if tk.Headers["Content-Length"] != "5" || tk.Headers["If-None-Match"] != "*" || tk.Headers["Content-Type"] != "text/plain" {
		t.Fatalf("headers %v", tk.Headers)
	}
	verifyTicket(t, "PUT", tk.URL, tk.Headers, e.clock.Now())
	// Another length, or no If-None-Match, breaks the signature: S3 itself refuses the upload.
	for _, change := range []func(h map[string]string){
		func(h map[string]string) { h["Content-Length"] = "6" },
		func(h map[string]string) { delete(h, "If-None-Match") },
	} {
		h := map[string]string{}
		for k, v := range tk.Headers {
			h[k] = v
		}
		change(h)
		r, _ := http.NewRequest("PUT", tk.URL, nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		if _, err := verifier.Verify(r, e.clock.Now()); err == nil {
			t.Fatalf("the URL verifies with headers %v", h)
		}
	}
}

func TestWithoutExtensionsAFormCarriesNoPresignField(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.Extensions = control.ExtensionsOff })
	_, tok := e.user("bo", nil)
	req := ticketReq("f.txt", 3, "text/plain")
	req.Form = true
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, req, &tk)
	for k := range tk.Fields {
		if strings.HasPrefix(strings.ToLower(k), "x-presign-") {
			t.Fatalf("form field %s sent to a store without the extensions", k)
		}
	}
	if tk.Fields["key"] != tk.Key || tk.Fields["policy"] == "" {
		t.Fatalf("fields %v", tk.Fields)
	}
}

// probedStore is an object store endpoint that answers the presign node's health path with
// health, and counts the probes.
func probedStore(t *testing.T, status int, body string) (*bucket.Bucket, *atomic.Int32) {
	t.Helper()
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_presign/healthz" {
			probes.Add(1)
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	b, err := bucket.New(bucket.Config{Endpoint: srv.URL, Bucket: testBucket, AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	return b, &probes
}

func TestAutoAsksTheStoreOnceWhetherItEnforcesTheExtensions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   bool // X-Presign-Once in the URL
	}{
		{"presign node", 200, "ok\n", true},
		{"other S3 service", 403, `<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>`, false},
		{"a 200 that is not the node's", 200, "<html>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objects, probes := probedStore(t, tc.status, tc.body)
			e := newEnv(t, func(c *control.Config) { c.Extensions = control.ExtensionsAuto; c.Objects = objects })
			_, tok := e.user("cy", nil)
			for range 3 {
				var tk control.Ticket
				e.must(201, "POST", "/v1/uploads", tok, ticketReq("c.bin", 10, ""), &tk)
				u, _ := url.Parse(tk.URL)
				if got := u.Query().Has("X-Presign-Once"); got != tc.want {
					t.Fatalf("X-Presign-Once in the URL: %v, want %v (%s)", got, tc.want, tk.URL)
				}
				if got := tk.Headers["If-None-Match"] == "*"; got == tc.want {
					t.Fatalf("If-None-Match signed: %v with extensions %v", got, tc.want)
				}
			}
			if n := probes.Load(); n != 1 {
				t.Fatalf("the store was asked %d times, want once", n)
			}
		})
	}
}

func TestAutoIssuesNoTicketUntilTheStoreAnswers(t *testing.T) {
	objects, err := bucket.New(bucket.Config{Endpoint: "http://127.0.0.1:1", Bucket: testBucket,
		AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *control.Config) {
		c.Extensions = control.ExtensionsAuto
		c.Objects = objects
		c.TicketsPerMinute = 1
	})
	_, tok := e.user("di", nil)
	for range 2 {
		if st, code := e.call("POST", "/v1/uploads", tok, ticketReq("d.bin", 10, ""), nil); st != 502 || code != "storage_unavailable" {
			t.Fatalf("ticket while the store is unreachable: %d %s, want 502 storage_unavailable", st, code)
		}
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Pending != 0 || me.Usage.Bytes != 0 {
		t.Fatalf("refused tickets left usage %+v", me.Usage)
	}
	if st, _ := e.call("GET", "/readyz", "", nil, nil); st != 503 {
		t.Fatalf("/readyz %d while the store is unreachable", st)
	}
}

func TestVirtualHostStyleNamesTheBucketInTheHost(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.VirtualHostStyle = true })
	_, tok := e.user("ed", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("v.txt", 3, "text/plain"), &tk)
	u, _ := url.Parse(tk.URL)
	if u.Host != testBucket+".storage.test:9000" || u.Path != "/"+tk.Key {
		t.Fatalf("URL %s: want the bucket in the host and the key as the path", tk.URL)
	}
	verifyTicket(t, "PUT", tk.URL, tk.Headers, e.clock.Now())
	req := ticketReq("v.txt", 3, "text/plain")
	req.Form = true
	e.must(201, "POST", "/v1/uploads", tok, req, &tk)
	if tk.URL != "http://"+testBucket+".storage.test:9000/" {
		t.Fatalf("form URL %s", tk.URL)
	}
}

func TestTheClientAddressComesFromXForwardedForOnlyThroughTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     []string // X-Forwarded-For header lines
		want    string
	}{
		{"no trusted proxy: the peer", nil, []string{"203.0.113.7"}, "127.0.0.1"},
		{"trusted peer, no header", []string{"127.0.0.1/32"}, nil, "127.0.0.1"},
		{"trusted peer", []string{"127.0.0.1/32"}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"a client cannot prepend", []string{"127.0.0.1/32"}, []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"a chain of trusted proxies", []string{"127.0.0.1/32", "10.0.0.0/8"}, []string{"203.0.113.7, 10.1.2.3", "10.9.9.9"}, "203.0.113.7"},
		{"only proxies: the farthest", []string{"127.0.0.0/8", "10.0.0.0/8"}, []string{"10.1.2.3"}, "10.1.2.3"},
		{"garbage stops the walk", []string{"127.0.0.1/32", "10.0.0.0/8"}, []string{"203.0.113.7, nonsense, 10.1.2.3"}, "10.1.2.3"},
		{"IPv6", []string{"127.0.0.1/32"}, []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *control.Config) {
				for _, p := range tc.trusted {
					c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
				}
			})
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/login", strings.NewReader(`{"username":"admin","password":"wrong-password"}`))
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var audit struct {
				Entries []struct {
					Action     string `json:"action"`
					RemoteAddr string `json:"remote_addr"`
				} `json:"entries"`
			}
			e.must(200, "GET", "/v1/audit?limit=10", e.admin, nil, &audit)
			for _, a := range audit.Entries {
				if a.Action == "login.fail" {
					if a.RemoteAddr != tc.want {
						t.Fatalf("client address %q, want %q", a.RemoteAddr, tc.want)
					}
					return
				}
			}
			t.Fatalf("no login.fail entry in %+v", audit.Entries)
		})
	}
}

func TestLoginThrottlingBehindAProxyCountsEachClient(t *testing.T) {
	e := newEnv(t, func(c *control.Config) {
		c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix("127.0.0.1/32"))
		c.LoginFailuresPerAddress = 2
		c.LoginFailuresPerUser = 100
	})
	login := func(client string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/login", strings.NewReader(`{"username":"nobody","password":"wrong-password"}`))
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 {
		if st := login("203.0.113.7"); st != 401 {
			t.Fatalf("failed login answered %d", st)
		}
	}
	if st := login("203.0.113.7"); st != 429 {
		t.Fatalf("third failure from one client: %d, want 429", st)
	}
	if st := login("203.0.113.8"); st != 401 {
		t.Fatalf("another client behind the same proxy: %d, want 401 (its own count)", st)
	}
	e.clock.Advance(16 * time.Minute)
	if st := login("203.0.113.7"); st != 401 {
		t.Fatalf("after the window: %d", st)
	}
}
