package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/client"
	"presign/internal/egress/egresstest"
	"presign/internal/testenv"
)

// appSecret signs the application events of the configured endpoints in these tests.
const appSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// appHit is one request an application's webhook received.
type appHit struct {
	at     time.Time
	header http.Header
	body   []byte
	answer int // the status answered; 0 when the receiver timed out or hung up instead
}

// appReceiver is the application's webhook endpoint: a real HTTP server on 127.0.0.1 whose
// answers the test scripts. Each request takes the next behaviour of the script; past its end
// every request is answered 204.
type appReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []appHit
	script []string // "500", "hang" (never answer), "close" (hang up without an answer), "204"
	gate   atomic.Bool
	notify chan struct{}
}

func newAppReceiver(t *testing.T, script ...string) *appReceiver {
	r := &appReceiver{script: script, notify: make(chan struct{}, 1)}
	release := make(chan struct{})
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		what := "204"
		if len(r.script) > 0 {
			what, r.script = r.script[0], r.script[1:]
		}
		if r.gate.Load() {
			what = "503"
		}
		h := appHit{at: time.Now(), header: req.Header.Clone(), body: body}
		switch what {
		case "hang":
			r.hits = append(r.hits, h)
			r.mu.Unlock()
			select {
			case <-release:
			case <-req.Context().Done():
			}
			return
		case "close":
			r.hits = append(r.hits, h)
			r.mu.Unlock()
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		fmt.Sscan(what, &h.answer)
		r.hits = append(r.hits, h)
		r.mu.Unlock()
		w.WriteHeader(h.answer)
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(func() { close(release); r.Close() })
	return r
}

func (r *appReceiver) received() []appHit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]appHit(nil), r.hits...)
}

// accepted returns the events the receiver answered 2xx, verified with the SDK's verifier,
// and fails t on any request that does not verify.
func (r *appReceiver) accepted(t *testing.T, secret string) []*client.AppEvent {
	t.Helper()
	var out []*client.AppEvent
	for _, h := range r.received() {
		e, err := client.VerifyAppEvent(secret, h.header, h.body)
		if err != nil {
			t.Fatalf("a delivery does not verify: %v\n%s", err, h.body)
		}
		if h.answer/100 == 2 {
			out = append(out, e)
		}
	}
	return out
}

// waitAccepted waits until the receiver has answered n events 2xx.
func (r *appReceiver) waitAccepted(t *testing.T, secret string, n int, within time.Duration) []*client.AppEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := r.accepted(t, secret); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver accepted %d of %d events in %v (%d requests)", len(r.accepted(t, secret)), n, within, len(r.received()))
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// uploadBytes asks for a ticket and PUTs body to the storage node; it returns the upload id.
func uploadBytes(t *testing.T, a *api, name string, body []byte) string {
	t.Helper()
	var tk ticket
	a.must(201, "POST", "/v1/uploads", map[string]any{"filename": name, "size": len(body), "content_type": "text/plain"}, &tk)
	if st, code := put(t, tk, body); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	return tk.ID
}

// appFlags configure quick retries for the tests.
var appFlags = []string{"--app-event-secret", appSecret, "--app-event-timeout", "1s",
	"--app-event-min-backoff", "100ms", "--app-event-max-backoff", "500ms"}

type deliveriesView struct {
	Deliveries []struct {
		ID       int64  `json:"id"`
		EventID  string `json:"event_id"`
		Type     string `json:"type"`
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
		Log      []struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		} `json:"attempt_log"`
	} `json:"deliveries"`
}

// A receiver that answers 500, then hangs past the timeout, then hangs up, gets the same
// signed event again each time until it answers 2xx; the deliveries API shows every attempt.
func TestAppWebhookIsRetriedUntil2xxWithTheSameSignedEvent(t *testing.T) {
	rcv := newAppReceiver(t, "500", "hang", "close", "204")
	p := serveProcess(t, append([]string{"--app-webhook", rcv.URL + "/presign"}, appFlags...)...)
	admin := adminAPI(t, p)
	mo, moID := admin.newUser("mo", nil)
	id := uploadBytes(t, mo, "hello.txt", []byte("hello"))
	got := rcv.waitAccepted(t, appSecret, 1, 30*time.Second)
	hits := rcv.received()
	if len(hits) != 4 {
		t.Fatalf("%d requests, want 4 (500, timeout, hang-up, 204)", len(hits))
	}
	for _, h := range hits {
		if h.header.Get("webhook-id") != got[0].ID || string(h.body) != string(hits[0].body) {
			t.Fatalf("attempts differ: %s vs %s", h.header.Get("webhook-id"), got[0].ID)
		}
	}
	documentedVerifier(t, appSecret, hits[3])
	e := got[0]
	if e.Type != client.EventUploadCompleted || e.Sequence != 1 || e.Data.UploadID != id || e.Data.UserID != moID ||
		e.Data.File == nil || e.Data.File.Size != 5 || e.Data.File.Filename != "hello.txt" {
		t.Fatalf("event %+v", e)
	}
	var hooks struct {
		Webhooks []struct {
			ID         string `json:"id"`
			Configured bool   `json:"configured"`
			Secret     string `json:"secret"`
		} `json:"webhooks"`
	}
	admin.must(200, "GET", "/v1/webhooks", nil, &hooks)
	if len(hooks.Webhooks) != 1 || !hooks.Webhooks[0].Configured || hooks.Webhooks[0].Secret != "" {
		t.Fatalf("webhooks %+v", hooks)
	}
	var ds deliveriesView
	waitFor(t, "the delivery recorded as delivered", func() bool {
		admin.must(200, "GET", "/v1/webhooks/"+hooks.Webhooks[0].ID+"/deliveries", nil, &ds)
		return len(ds.Deliveries) == 1 && ds.Deliveries[0].State == "delivered"
	})
	if len(ds.Deliveries) != 1 || ds.Deliveries[0].State != "delivered" || ds.Deliveries[0].Attempts != 4 ||
		len(ds.Deliveries[0].Log) != 4 || ds.Deliveries[0].Log[0].Status != 500 || ds.Deliveries[0].Log[3].Status != 204 ||
		ds.Deliveries[0].Log[1].Error == "" || ds.Deliveries[0].Log[2].Error == "" {
		t.Fatalf("deliveries %+v", ds)
	}
	// A redelivery sends the same event once more.
	admin.must(202, "POST", fmt.Sprintf("/v1/webhooks/%s/deliveries/%d/redeliver", hooks.Webhooks[0].ID, ds.Deliveries[0].ID), nil, nil)
	again := rcv.waitAccepted(t, appSecret, 2, 10*time.Second)
	if again[1].ID != e.ID {
		t.Fatalf("redelivered %s, want %s", again[1].ID, e.ID)
	}
	// The user does not see the configured endpoint, nor may delete it.
	var mine struct{ Webhooks []any }
	mo.must(200, "GET", "/v1/webhooks", nil, &mine)
	if len(mine.Webhooks) != 0 {
		t.Fatalf("a user sees %d webhooks", len(mine.Webhooks))
	}
	if st, _ := mo.call("DELETE", "/v1/webhooks/"+hooks.Webhooks[0].ID, nil, nil); st != 404 {
		t.Fatalf("a user deleting the configured webhook: %d", st)
	}
	if st, _ := admin.call("DELETE", "/v1/webhooks/"+hooks.Webhooks[0].ID, nil, nil); st != 409 {
		t.Fatalf("deleting the configured webhook through the API: %d", st)
	}
}

// The control plane is killed after the upload ended and before the application got its event:
// the event, written with the transition, is delivered after the restart.
func TestAppEventOutlivesASIGKILLBetweenTransitionAndDelivery(t *testing.T) {
	rcv := newAppReceiver(t)
	rcv.gate.Store(true) // 503 until the restart
	p := serveProcess(t, append([]string{"--app-webhook", rcv.URL}, appFlags...)...)
	mo, _ := adminAPI(t, p).newUser("mo", nil)
	id := uploadBytes(t, mo, "a.txt", []byte("kill me"))
	mo.waitState(id, "completed", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(rcv.received()) == 0 {
		t.Fatal("no attempt before the kill")
	}
	p.kill()
	rcv.gate.Store(false)
	p.restart("control plane", "storage node")
	got := rcv.waitAccepted(t, appSecret, 1, 20*time.Second)
	if got[0].Data.UploadID != id || got[0].ID != rcv.received()[0].header.Get("webhook-id") {
		t.Fatalf("after the restart: %+v", got[0])
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rcv.accepted(t, appSecret)); n != 1 {
		t.Fatalf("%d accepted deliveries of one event", n)
	}
}

// A user registers their own webhook: it gets their uploads' endings and deletions, not other
// users', signed with the secret the registration returned.
func TestUsersRegisterWebhooksForTheirOwnUploads(t *testing.T) {
	rcvA, rcvB := newAppReceiver(t), newAppReceiver(t)
	p := serveProcess(t, append([]string{"--webhook-allow-private"}, appFlags...)...)
	admin := adminAPI(t, p)
	ann, _ := admin.newUser("ann", nil)
	bob, _ := admin.newUser("bob", nil)
	var hookA, hookB struct{ ID, Secret string }
	ann.must(201, "POST", "/v1/webhooks", map[string]any{"url": rcvA.URL}, &hookA)
	bob.must(201, "POST", "/v1/webhooks", map[string]any{"url": rcvB.URL, "events": []string{"file.deleted"}}, &hookB)
	if !strings.HasPrefix(hookA.Secret, "whsec_") || hookA.Secret == hookB.Secret {
		t.Fatalf("secrets %q %q", hookA.Secret, hookB.Secret)
	}
	a1 := uploadBytes(t, ann, "a.txt", []byte("ann's"))
	b1 := uploadBytes(t, bob, "b.txt", []byte("bob's"))
	ann.waitState(a1, "completed", 10*time.Second)
	bob.waitState(b1, "completed", 10*time.Second)
	bob.must(204, "DELETE", "/v1/files/"+b1, nil, nil)
	gotA := rcvA.waitAccepted(t, hookA.Secret, 1, 10*time.Second)
	gotB := rcvB.waitAccepted(t, hookB.Secret, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if len(rcvA.accepted(t, hookA.Secret)) != 1 || gotA[0].Data.UploadID != a1 || gotA[0].Type != "upload.completed" {
		t.Fatalf("ann's receiver: %+v", gotA)
	}
	if len(rcvB.accepted(t, hookB.Secret)) != 1 || gotB[0].Data.UploadID != b1 || gotB[0].Type != "file.deleted" || gotB[0].Sequence != 2 {
		t.Fatalf("bob's receiver: %+v", gotB)
	}
	if st, _ := bob.call("GET", "/v1/webhooks/"+hookA.ID+"/deliveries", nil, nil); st != 404 {
		t.Fatalf("bob reading ann's deliveries: %d", st)
	}
	if st, _ := bob.call("POST", "/v1/webhooks", map[string]any{"url": rcvB.URL, "all_users": true}, nil); st != 403 {
		t.Fatalf("a user registering for all users: %d", st)
	}
	ann.must(204, "DELETE", "/v1/webhooks/"+hookA.ID, nil, nil)
	a2 := uploadBytes(t, ann, "a2.txt", []byte("after"))
	ann.waitState(a2, "completed", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := len(rcvA.received()); n != 1 {
		t.Fatalf("a deleted webhook got %d requests", n)
	}
}

// Registration refuses addresses of the control plane's own network, and a name that resolves
// to one — at registration and, when it changes its answer later (DNS rebinding), at delivery.
func TestWebhooksCannotReachPrivateAddresses(t *testing.T) {
	dns := egresstest.StartDNS(t)
	rcv := newAppReceiver(t)
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())
	dns.Set("hooks.example.test", netip.MustParseAddr("203.0.113.10"))
	dns.Set("internal.example.test", netip.MustParseAddr("10.0.0.1"))
	p := serveProcess(t, append([]string{"--webhook-dns", dns.Addr()}, appFlags...)...)
	mo, _ := adminAPI(t, p).newUser("mo", nil)
	for _, u := range []string{"http://127.0.0.1:" + port, "http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data",
		"http://[::1]:" + port, "http://localhost:" + port, "http://internal.example.test/x", "http://[::ffff:127.0.0.1]/",
		"nats://127.0.0.1:4222/presign.events"} {
		if st, code := mo.call("POST", "/v1/webhooks", map[string]any{"url": u}, nil); st != 400 || code != "invalid_request" {
			t.Errorf("registering %s: %d %s", u, st, code)
		}
	}
	var hook struct{ ID, Secret string }
	mo.must(201, "POST", "/v1/webhooks", map[string]any{"url": "http://hooks.example.test:" + port + "/x"}, &hook)
	dns.Set("hooks.example.test", netip.MustParseAddr("127.0.0.1")) // rebinding
	id := uploadBytes(t, mo, "r.txt", []byte("rebind"))
	mo.waitState(id, "completed", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ds deliveriesView
		mo.must(200, "GET", "/v1/webhooks/"+hook.ID+"/deliveries", nil, &ds)
		if len(ds.Deliveries) == 1 && len(ds.Deliveries[0].Log) > 0 {
			if e := ds.Deliveries[0].Log[0].Error; !strings.Contains(e, "refused") {
				t.Fatalf("the attempt failed otherwise: %q", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt recorded: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(rcv.received()); n != 0 {
		t.Fatalf("the receiver on 127.0.0.1 got %d requests", n)
	}
	if dns.Queries("hooks.example.test") < 2 {
		t.Fatal("the name was not resolved again at delivery")
	}
}

// GET /v1/uploads/{id}?wait= answers as soon as the upload ends, and the CLI prints a file id
// only once the control plane says the upload is completed.
func TestWaitingForAnUploadAnswersWhenItEnds(t *testing.T) {
	p := serveProcess(t)
	mo, _ := adminAPI(t, p).newUser("mo", nil)
	var tk ticket
	mo.must(201, "POST", "/v1/uploads", map[string]any{"filename": "w.txt", "size": 4, "content_type": "text/plain"}, &tk)
	type answer struct {
		u   uploadView
		dur time.Duration
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		var u uploadView
		st, _ := mo.call("GET", "/v1/uploads/"+tk.ID+"?wait=30s", nil, &u)
		if st != 200 {
			u.State = fmt.Sprint("status ", st)
		}
		done <- answer{u, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case a := <-done:
		t.Fatalf("the wait answered before the upload ended: %+v", a.u)
	default:
	}
	if st, code := put(t, tk, []byte("wait")); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	a := <-done
	if a.u.State != "completed" || a.dur > 10*time.Second {
		t.Fatalf("the wait answered %+v after %v", a.u, a.dur)
	}
	var u uploadView
	mo.must(200, "GET", "/v1/uploads/"+tk.ID+"?wait=1s", nil, &u) // an ended upload answers at once
	if st, code := mo.call("GET", "/v1/uploads/"+tk.ID+"?wait=2h", nil, nil); st != 400 || code != "invalid_request" {
		t.Fatalf("wait=2h: %d %s", st, code)
	}
}

// presign upload prints a file's id only after the control plane answered, to a wait for the
// upload, that it is completed; the file has the metadata given with --meta.
func TestCLIUploadPrintsTheIDOnlyOnceTheControlPlaneVerifiedIt(t *testing.T) {
	p := serveProcess(t)
	user, _ := adminAPI(t, p).newUser("cli", nil)
	px := newFaultProxy(t) // records the CLI's API calls on their way to the control plane
	px.setTarget(p.url("control plane"))
	c := newCLI(t)
	c.must("cli-password\n", "login", px.URL(), "--username", "cli", "--password-stdin")
	path := filepath.Join(t.TempDir(), "v.txt")
	if err := os.WriteFile(path, []byte("verify me"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := readLines(c.must("", "upload", "--quiet", "--meta", "album=Été 2030", "--meta", "order_ref=A=17", path))
	if len(out) != 1 {
		t.Fatalf("stdout %q", out)
	}
	id := out[0]
	var f client.File
	user.must(200, "GET", "/v1/files/"+id, nil, &f)
	if want := map[string]string{"album": "Été 2030", "order_ref": "A=17"}; !maps.Equal(f.Metadata, want) {
		t.Errorf("the file's metadata %q, want %q", f.Metadata, want)
	}
	completed, waited := -1, -1
	for i, r := range px.requests(false) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/uploads/"+id+"/complete":
			completed = i
		case r.Method == "GET" && r.URL.Path == "/v1/uploads/"+id && r.URL.Query().Get("wait") != "" && r.Status == 200:
			waited = i
		}
	}
	if completed < 0 || waited < completed {
		t.Fatalf("complete at %d, answered wait at %d: %+v", completed, waited, px.requests(false))
	}
}

// documentedVerifier runs the Python verifier of docs/app-events.md on a delivery the receiver
// got, as an application in another language would, and fails t unless it accepts it.
func documentedVerifier(t *testing.T, secret string, h appHit) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		testenv.Missing(t, "python3 not installed: %v", err)
	}
	md, err := os.ReadFile(filepath.Join("..", "docs", "app-events.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(md), "\n```python\n")
	code, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("docs/app-events.md has no python block")
	}
	headers := map[string]string{}
	for k := range h.header {
		headers[strings.ToLower(k)] = h.header.Get(k)
	}
	in, _ := json.Marshal(map[string]any{"secret": secret, "headers": headers, "body": h.body})
	script := code + "\nimport json, sys\nc = json.load(sys.stdin)\n" +
		"print(verify(c['secret'], c['headers'], base64.b64decode(c['body'])))\n"
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "True" {
		t.Fatalf("the documented verifier: %v %s", err, out)
	}
}

// readLines returns the non-empty lines of s.
func readLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
