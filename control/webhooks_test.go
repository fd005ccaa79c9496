package control_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/client"
	"presign/control"
	"presign/internal/egress/egresstest"
)

// withDNS points the service's endpoint resolution at a DNS server of the test's own.
func withDNS(dns *egresstest.DNS) func(*control.Config) {
	return func(c *control.Config) { c.AppEvents.Resolver = dns.Resolver() }
}

func TestWebhookRegistrationRefusesPrivateAndMalformedEndpoints(t *testing.T) {
	dns := egresstest.StartDNS(t)
	dns.Set("hooks.example.test", netip.MustParseAddr("203.0.113.7"))
	dns.Set("mixed.example.test", netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("fd00::1"))
	dns.Set("meta.example.test", netip.MustParseAddr("169.254.169.254"))
	e := newEnv(t, withDNS(dns))
	_, tok := e.user("ann", nil)
	for _, u := range []string{"http://127.0.0.1/x", "http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]/",
		"http://[::ffff:10.1.2.3]/", "http://0.0.0.0/", "http://100.64.0.1/", "https://meta.example.test/x",
		"https://mixed.example.test/x", "https://nowhere.example.test/x", "amqp://guest:guest@192.168.1.10:5672/",
		"kafka://hooks.example.test:9092/t?brokers=10.0.0.2:9092", "ftp://hooks.example.test/x", "https://", "not a url",
		"https://user:pw@hooks.example.test/x"} {
		if st, code, msg := e.refusal("POST", "/v1/webhooks", tok, map[string]any{"url": u}); st != 400 || code != "invalid_request" {
			t.Errorf("%s: %d %s %s", u, st, code, msg)
		} else if strings.Contains(msg, "pw") {
			t.Errorf("%s: the refusal repeats the password: %s", u, msg)
		}
	}
	for name, body := range map[string]map[string]any{
		"unknown type":  {"url": "https://hooks.example.test/x", "events": []string{"upload.started"}},
		"short secret":  {"url": "https://hooks.example.test/x", "secret": "whsec_c2hvcnQ="},
		"secret base64": {"url": "https://hooks.example.test/x", "secret": "whsec_!!!"},
	} {
		if st, code := e.call("POST", "/v1/webhooks", tok, body, nil); st != 400 || code != "invalid_request" {
			t.Errorf("%s: %d %s", name, st, code)
		}
	}
	if st, code := e.call("POST", "/v1/webhooks", tok, map[string]any{"url": "https://hooks.example.test/x", "all_users": true}, nil); st != 403 {
		t.Errorf("a user registering for all users: %d %s", st, code)
	}
	var list struct{ Webhooks []control.WebhookView }
	if st, _ := e.call("GET", "/v1/webhooks", tok, nil, &list); st != 200 || len(list.Webhooks) != 0 {
		t.Fatalf("list: %d %+v", st, list)
	}
	stored, err := e.store.ListEndpoints(context.Background(), "")
	if err != nil || len(stored) != 0 {
		t.Fatalf("refusals stored %d endpoints (%v)", len(stored), err)
	}
}

func TestWebhooksBelongToWhoRegisteredThem(t *testing.T) {
	dns := egresstest.StartDNS(t)
	dns.Set("hooks.example.test", netip.MustParseAddr("203.0.113.7"))
	e := newEnv(t, withDNS(dns))
	_, ann := e.user("ann", nil)
	_, bob := e.user("bob", nil)
	var created control.WebhookView
	e.must(201, "POST", "/v1/webhooks", ann, map[string]any{"url": "https://hooks.example.test/ann?token=abc",
		"events": []string{"upload.completed"}}, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || created.URL != "https://hooks.example.test/ann" ||
		fmt.Sprint(created.Events) != "[upload.completed]" || created.AllUsers || created.Configured {
		t.Fatalf("created %+v", created)
	}
	mine := "whsec_" + strings.Repeat("QUJD", 8)
	var own control.WebhookView
	e.must(201, "POST", "/v1/webhooks", bob, map[string]any{"url": "https://hooks.example.test/bob", "secret": mine}, &own)
	if own.Secret != mine || len(own.Events) != 4 {
		t.Fatalf("bob's %+v", own)
	}
	var all control.WebhookView
	e.must(201, "POST", "/v1/webhooks", e.admin, map[string]any{"url": "https://hooks.example.test/all", "all_users": true}, &all)
	var got control.WebhookView
	e.must(200, "GET", "/v1/webhooks/"+created.ID, ann, nil, &got)
	if got.Secret != "" || got.ID != created.ID {
		t.Fatalf("GET shows %+v", got)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/v1/webhooks/" + created.ID}, {"DELETE", "/v1/webhooks/" + created.ID},
		{"GET", "/v1/webhooks/" + created.ID + "/deliveries"}, {"POST", "/v1/webhooks/" + created.ID + "/deliveries/1/redeliver"}} {
		if st, _ := e.call(c.method, c.path, bob, nil, nil); st != 404 {
			t.Errorf("bob: %s %s: %d", c.method, c.path, st)
		}
	}
	var lists [3]struct{ Webhooks []control.WebhookView }
	e.must(200, "GET", "/v1/webhooks", ann, nil, &lists[0])
	e.must(200, "GET", "/v1/webhooks", bob, nil, &lists[1])
	e.must(200, "GET", "/v1/webhooks", e.admin, nil, &lists[2])
	if len(lists[0].Webhooks) != 1 || len(lists[1].Webhooks) != 1 || len(lists[2].Webhooks) != 3 {
		t.Fatalf("lists: ann %d, bob %d, admin %d", len(lists[0].Webhooks), len(lists[1].Webhooks), len(lists[2].Webhooks))
	}
	e.must(204, "DELETE", "/v1/webhooks/"+created.ID, ann, nil, nil)
	e.must(404, "GET", "/v1/webhooks/"+created.ID, ann, nil, nil)
	for range control.MaxWebhooksPerUser - 1 { // bob has one
		e.must(201, "POST", "/v1/webhooks", bob, map[string]any{"url": "https://hooks.example.test/more"}, nil)
	}
	if st, code := e.call("POST", "/v1/webhooks", bob, map[string]any{"url": "https://hooks.example.test/one-too-many"}, nil); st != 409 || code != "conflict" {
		t.Fatalf("webhook %d: %d %s", control.MaxWebhooksPerUser+1, st, code)
	}
	var audit struct{ Entries []control.AuditEntry }
	e.must(200, "GET", "/v1/audit", e.admin, nil, &audit)
	actions := map[string]int{}
	for _, a := range audit.Entries {
		actions[a.Action]++
		for _, v := range a.Details {
			if strings.Contains(v, "whsec_") || strings.Contains(v, "token=abc") {
				t.Fatalf("the audit log holds a secret: %+v", a)
			}
		}
	}
	if actions["webhook.create"] != 2+control.MaxWebhooksPerUser || actions["webhook.delete"] != 1 {
		t.Fatalf("audit actions %v", actions)
	}
}

// appReceiver is an application's webhook in the test process.
type appReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []*client.AppEvent
	fail   int // answer 500 to this many requests first
}

func newAppReceiver(t *testing.T, secret func() string, fail int) *appReceiver {
	r := &appReceiver{fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ev, err := client.VerifyAppEvent(secret(), req.Header, body)
		if err != nil {
			t.Errorf("delivery does not verify: %v", err)
			w.WriteHeader(401)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			http.Error(w, "not now", 500)
			return
		}
		r.events = append(r.events, ev)
		w.WriteHeader(204)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *appReceiver) got() []*client.AppEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*client.AppEvent(nil), r.events...)
}

// newHookedNodeEnv is a node env whose deliverer runs until the test ends, with the user "ann"
// (her id and session) and her webhook at a receiver that fails its first fail deliveries.
func newHookedNodeEnv(t *testing.T, fail int) (n *nodeEnv, userID, tok string, hook *control.WebhookView, rcv *appReceiver) {
	n = newNodeEnv(t, true, func(c *control.Config) {
		c.AppEvents.AllowPrivate = true
		c.AppEvents.Retry.Min, c.AppEvents.Retry.Max = 20*time.Millisecond, 50*time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.svc.RunDeliverer(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	userID, tok = n.user("ann", nil)
	hook = new(control.WebhookView)
	rcv = newAppReceiver(t, func() string { return hook.Secret }, fail)
	n.must(201, "POST", "/v1/webhooks", tok, map[string]any{"url": rcv.URL + "/hook"}, hook)
	return n, userID, tok, hook, rcv
}

// An upload's ending reaches its owner's webhook through the deliverer; the deliveries call
// shows the attempts, and a redelivery sends the event again.
func TestUploadEndingIsDeliveredAndCanBeRedelivered(t *testing.T) {
	n, userID, tok, hook, rcv := newHookedNodeEnv(t, 1)
	var tk control.Ticket
	n.must(201, "POST", "/v1/uploads", tok, ticketReq("a.txt", 5, "text/plain"), &tk)
	n.putTicket(tk, []byte("hello"))
	var waited control.UploadView
	n.must(200, "GET", "/v1/uploads/"+tk.ID+"?wait=20s", tok, nil, &waited)
	if waited.State != control.StateCompleted {
		t.Fatalf("waited: %+v", waited)
	}
	n.eventually(func() error {
		if len(rcv.got()) != 1 {
			return fmt.Errorf("%d events", len(rcv.got()))
		}
		return nil
	})
	ev := rcv.got()[0]
	if ev.Type != "upload.completed" || ev.Data.UploadID != tk.ID || ev.Data.UserID != userID || ev.Data.File.Size != 5 {
		t.Fatalf("event %+v", ev)
	}
	var ds control.DeliveryList
	n.eventually(func() error {
		n.must(200, "GET", "/v1/webhooks/"+hook.ID+"/deliveries", tok, nil, &ds)
		if len(ds.Deliveries) != 1 || ds.Deliveries[0].State != control.DeliveryDelivered {
			return fmt.Errorf("deliveries %+v", ds)
		}
		return nil
	})
	d := ds.Deliveries[0]
	if d.Attempts != 2 || len(d.Log) != 2 || d.Log[0].Status != 500 || d.Log[0].Response != "not now\n" || d.Log[1].Status != 204 ||
		d.EventID != ev.ID || d.Sequence != 1 {
		t.Fatalf("delivery %+v", d)
	}
	var again control.DeliveryView
	n.must(202, "POST", fmt.Sprintf("/v1/webhooks/%s/deliveries/%d/redeliver", hook.ID, d.ID), tok, nil, &again)
	n.eventually(func() error {
		if got := rcv.got(); len(got) != 2 || got[1].ID != ev.ID {
			return fmt.Errorf("%d events after the redelivery", len(got))
		}
		return nil
	})
	if st, _ := n.call("GET", "/v1/webhooks/"+hook.ID+"/deliveries?state=lost", tok, nil, nil); st != 400 {
		t.Fatalf("state=lost: %d", st)
	}
}

func TestWaitingForAnUploadIsBounded(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("ann", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("a.txt", 5, "text/plain"), &tk)
	start := time.Now()
	var u control.UploadView
	e.must(200, "GET", "/v1/uploads/"+tk.ID+"?wait=300ms", tok, nil, &u)
	if u.State != control.StatePending || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("after %v: %+v", time.Since(start), u)
	}
	e.must(200, "DELETE", "/v1/uploads/"+tk.ID, tok, nil, nil)
	e.must(200, "GET", "/v1/uploads/"+tk.ID+"?wait=1", tok, nil, &u)
	if u.State != control.StateFailed {
		t.Fatalf("after the abort: %+v", u)
	}
	for _, w := range []string{"61s", "-1s", "soon"} {
		if st, code := e.call("GET", "/v1/uploads/"+tk.ID+"?wait="+w, tok, nil, nil); st != 400 || code != "invalid_request" {
			t.Errorf("wait=%s: %d %s", w, st, code)
		}
	}
}
