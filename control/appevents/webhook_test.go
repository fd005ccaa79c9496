package appevents_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/control/appevents"
	"presign/internal/egress"
	"presign/internal/egress/egresstest"
)

// receiver is a real HTTP server on 127.0.0.1 that keeps what it was sent.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answer http.HandlerFunc) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{req.Header.Clone(), b})
		r.mu.Unlock()
		if answer != nil {
			answer(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func trusted(s appevents.Secret) appevents.Options {
	return appevents.Options{Secrets: []appevents.Secret{s}, Egress: egress.Policy{AllowPrivate: true}, Timeout: 2 * time.Second}
}

func testMessage() appevents.Message {
	return appevents.Message{ID: appevents.NewID(), Type: appevents.UploadCompleted, Key: "u1",
		Body: []byte(`{"type":"upload.completed","data":{"upload_id":"u1"}}`)}
}

func TestWebhookPostsASignedEventTheNPMVerifierAccepts(t *testing.T) {
	v := startNodeVerifier(t)
	rcv := newReceiver(t, nil)
	s := appevents.NewSecret()
	sink, err := appevents.Open(rcv.URL+"/hooks?tenant=1", trusted(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m := testMessage()
	r, err := sink.Send(t.Context(), m)
	if err != nil || r.Status != 200 {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	got := rcv.received()
	if len(got) != 1 || string(got[0].body) != string(m.Body) {
		t.Fatalf("received %d requests", len(got))
	}
	h := got[0].header
	if h.Get("webhook-id") != m.ID || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if e := v.verify(t, s.Encode(), h, got[0].body); e != "" {
		t.Fatalf("npm verifier: %s", e)
	}
}

func TestWebhookFailureKeepsStatusExcerptAndRetryAfter(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, strings.Repeat("€", 1000)) // 3 bytes each: the limit splits one
	})
	sink, _ := appevents.Open(rcv.URL, trusted(appevents.NewSecret()))
	r, err := sink.Send(t.Context(), testMessage())
	if err == nil || r.Status != 503 || r.RetryAfter != 7*time.Second {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	if r.Response != strings.Repeat("€", appevents.ResponseExcerpt/3) {
		t.Fatalf("excerpt of %d bytes: %q", len(r.Response), r.Response)
	}
}

// A hostile endpoint that answers without end costs presign at most the drain limit.
func TestWebhookReadsABoundedPartOfAnEndlessAnswer(t *testing.T) {
	var written atomic.Int64
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 1024; i++ { // 64 MiB unless the client stops reading
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	sink, _ := appevents.Open(rcv.URL, trusted(appevents.NewSecret()))
	r, err := sink.Send(t.Context(), testMessage())
	if err != nil || r.Status != 200 || len(r.Response) != appevents.ResponseExcerpt {
		t.Fatalf("Send: status %d, excerpt %d bytes, %v", r.Status, len(r.Response), err)
	}
	rcv.Close() // waits for the handler, which ends when its writes fail
	if w := written.Load(); w >= 32<<20 {
		t.Fatalf("the endpoint wrote %d bytes before presign hung up", w)
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, nil)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	sink, _ := appevents.Open(rcv.URL, trusted(appevents.NewSecret()))
	r, err := sink.Send(t.Context(), testMessage())
	if err == nil || r.Status != http.StatusTemporaryRedirect {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	if n := len(target.received()); n != 0 {
		t.Fatalf("the redirect's target got %d requests", n)
	}
}

func TestWebhookAttemptEndsAtItsTimeout(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	o := trusted(appevents.NewSecret())
	o.Timeout = 300 * time.Millisecond
	sink, _ := appevents.Open(rcv.URL, o)
	start := time.Now()
	if _, err := sink.Send(t.Context(), testMessage()); err == nil {
		t.Fatal("a receiver that never answers was a success")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the attempt took %v", d)
	}
}

func TestWebhookRefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	rcv := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())
	dns := egresstest.StartDNS(t)
	dns.Set("rebind.example.test", netip.MustParseAddr("127.0.0.1"))
	s := appevents.NewSecret()
	for _, u := range []string{rcv.URL, "http://localhost:" + port, "http://[::ffff:127.0.0.1]:" + port,
		"http://rebind.example.test:" + port} {
		sink, err := appevents.Open(u, appevents.Options{Secrets: []appevents.Secret{s}, Resolver: dns.Resolver(), Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sink.Send(t.Context(), testMessage()); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("Send to %s: %v, want refused", u, err)
		}
	}
	if n := len(rcv.received()); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
	o := trusted(s)
	o.Resolver = dns.Resolver()
	sink, _ := appevents.Open("http://rebind.example.test:"+port, o)
	if _, err := sink.Send(t.Context(), testMessage()); err != nil {
		t.Fatalf("allowed: %v", err)
	}
}

func TestOpenChecksTheURL(t *testing.T) {
	s := []appevents.Secret{appevents.NewSecret()}
	bad := []string{"ftp://x/y", "https://", "https://user:pw@host/x", "nats://host:4222", "nats://host:4222/a.*",
		"nats://host:4222/a..b", "kafka://host:9092", "kafka://host:9092/t?brokers=nohost", "kafka://h:1/t?tls=maybe",
		"kafka://h:1/t?sasl=gssapi", "kafka://h:1/t?sasl=plain", "::not a url"}
	for _, u := range bad {
		if _, err := appevents.Open(u, appevents.Options{Secrets: s}); !errors.Is(err, appevents.ErrUnsupportedURL) {
			t.Errorf("Open(%q) = %v, want ErrUnsupportedURL", u, err)
		}
	}
	if _, err := appevents.Open("https://example.test/hook", appevents.Options{}); err == nil {
		t.Error("a webhook without a secret was opened")
	}
	good := map[string][]string{
		"https://example.test/hook":                         {"example.test"},
		"nats://u:p@127.0.0.1:4222/presign.events":          {"127.0.0.1"},
		"amqp://guest:guest@127.0.0.1:5672/?exchange=x":     {"127.0.0.1"},
		"kafka://k1:9092/events?brokers=k2:9092,[::1]:9092": {"k1", "k2", "::1"},
	}
	for u, hosts := range good {
		got, err := appevents.CheckURL(u)
		if err != nil || strings.Join(got, ",") != strings.Join(hosts, ",") {
			t.Errorf("CheckURL(%q) = %v, %v; want %v", u, got, err, hosts)
		}
	}
}

func TestRedactHidesCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:secretpw@host:5672/vh?exchange=x": "amqp://redacted@host:5672/vh",
		"https://h/hook?token=abc#frag":                 "https://h/hook",
		"kafka://u:pw@k:9092/t?sasl=plain":              "kafka://redacted@k:9092/t",
	} {
		if got := appevents.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
