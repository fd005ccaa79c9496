package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/events"
)

const webhookSecret = "webhook-secret-0123456789"

// receiver is a webhook endpoint that verifies each delivery, applies each event id once, and
// can be switched down (503).
type receiver struct {
	*httptest.Server
	down     atomic.Bool
	mu       sync.Mutex
	seen     map[string]events.Record
	order    []string // event names and keys in arrival order
	forged   int
	attempts int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{seen: map[string]events.Record{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.attempts++
		if rc.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		id, err := events.Verify(r.Header, body, [][]byte{[]byte(webhookSecret)}, time.Now(), events.DefaultTolerance)
		if err != nil {
			rc.forged++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, dup := rc.seen[id]; dup {
			w.WriteHeader(http.StatusOK) // already applied: acknowledge, do nothing
			return
		}
		msg, err := events.Parse(body)
		if err != nil || len(msg.Records) != 1 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rec := msg.Records[0]
		rc.seen[id] = rec
		key, _ := rec.S3.Object.DecodedKey()
		rc.order = append(rc.order, string(rec.EventName)+" "+key)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) events() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.order...)
}

func (rc *receiver) waitFor(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got := rc.events(); len(got) >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("received %d events, want %d: %v", len(rc.events()), n, rc.events())
	return nil
}

func notifyingNode(t *testing.T, storageNode nodeFactory, rc *receiver) *process {
	return storageNode(t, "--notify-url", rc.URL+"/hook", "--notify-secret", webhookSecret, "--notify-max-backoff", "500ms")
}

// TestEventsSurviveReceiverOutage: events of changes made while the receiver is down all
// arrive, once each and in order per key, when it comes back.
func TestEventsSurviveReceiverOutage(t *testing.T) {
	forEachBackend(t, testEventsSurviveReceiverOutage)
}

func testEventsSurviveReceiverOutage(t *testing.T, storageNode nodeFactory) {
	rc := newReceiver(t)
	rc.down.Store(true)
	node := notifyingNode(t, storageNode, rc)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "events")
	c := awsClient(ep)
	ctx := context.Background()
	var want []string
	for i := range 10 {
		key := "k" + string(rune('0'+i%3)) + "/file name.txt"
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String(key), Body: strings.NewReader("v")}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "s3:ObjectCreated:Put "+key)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("events"), Key: aws.String("copy"), CopySource: aws.String("events/k0/file name.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("events"), Key: aws.String("copy")}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "s3:ObjectCreated:Copy copy", "s3:ObjectRemoved:Delete copy")
	time.Sleep(time.Second)
	if got := rc.events(); len(got) != 0 {
		t.Fatalf("events applied while the receiver was down: %v", got)
	}
	rc.down.Store(false)
	rc.waitFor(t, len(want), 30*time.Second)
	time.Sleep(700 * time.Millisecond) // room for a duplicate to show up
	got := rc.events()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %v", len(got), len(want), got)
	}
	// Per key, the order of changes is kept.
	for _, key := range []string{"k0/file name.txt", "k1/file name.txt", "k2/file name.txt", "copy"} {
		if a, b := filterKey(got, key), filterKey(want, key); strings.Join(a, "|") != strings.Join(b, "|") {
			t.Errorf("events of %s arrived as %v, want %v", key, a, b)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.forged != 0 {
		t.Fatalf("%d deliveries failed verification", rc.forged)
	}
	for _, r := range rc.seen {
		if r.S3.Object.Sequencer == "" || r.S3.Bucket.Name != "events" || r.AWSRegion != testRegion || r.ResponseElements.RequestID == "" {
			t.Fatalf("record lacks S3 fields: %+v", r)
		}
	}
}

func filterKey(list []string, key string) []string {
	var out []string
	for _, e := range list {
		if strings.HasSuffix(e, " "+key) {
			out = append(out, e)
		}
	}
	return out
}

// TestEventSurvivesSIGKILLAfter200: a PUT answered 200 has its event in the durable outbox,
// so a node killed right after still delivers it when it comes back.
func TestEventSurvivesSIGKILLAfter200(t *testing.T) {
	forEachBackend(t, testEventSurvivesSIGKILLAfter200)
}

func testEventSurvivesSIGKILLAfter200(t *testing.T, storageNode nodeFactory) {
	rc := newReceiver(t)
	rc.down.Store(true)
	node := notifyingNode(t, storageNode, rc)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "events")
	if _, err := awsClient(ep).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String("survivor"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	node.kill()
	rc.down.Store(false)
	node.restart("storage node")
	got := rc.waitFor(t, 1, 30*time.Second)
	if got[0] != "s3:ObjectCreated:Put survivor" {
		t.Fatalf("got %v", got)
	}
}

// capturedDelivery is one request a node sent to a webhook receiver, as it arrived.
type capturedDelivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// captureFirstDelivery starts a receiver that keeps the first delivery it gets (answering 200
// to all) and returns its URL and a channel that yields that delivery.
func captureFirstDelivery(t *testing.T) (string, <-chan capturedDelivery) {
	t.Helper()
	got := make(chan capturedDelivery, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			select {
			case got <- capturedDelivery{header: r.Header.Clone(), body: body, at: time.Now()}:
			default:
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook", got
}

// TestRealDeliveryVerifiesAndItsForgeriesAndReplaysAreRefused: a delivery a running node sent
// for a PUT, captured as its receiver got it, passes events.Verify with the shared secret; the
// same delivery with one byte of its body changed, with its signature, timestamp or event id
// changed, or signed with another secret, is refused as not matching; and the untouched
// delivery checked later than the timestamp tolerance allows is refused as a replay.
func TestRealDeliveryVerifiesAndItsForgeriesAndReplaysAreRefused(t *testing.T) {
	hook, captured := captureFirstDelivery(t)
	node := storageNode(t, "--notify-url", hook, "--notify-secret", webhookSecret)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "signed")
	if _, err := awsClient(ep).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("signed"), Key: aws.String("paid invoice.pdf"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	var d capturedDelivery
	select {
	case d = <-captured:
	case <-time.After(30 * time.Second):
		t.Fatalf("no delivery within 30s\n%s", node.logs())
	}
	secrets := [][]byte{[]byte(webhookSecret)}

	id, err := events.Verify(d.header, d.body, secrets, d.at, events.DefaultTolerance)
	if err != nil {
		t.Fatalf("the genuine delivery is refused: %v\nheaders %v\nbody %s", err, d.header, d.body)
	}
	if id != d.header.Get(events.HeaderEventID) {
		t.Errorf("Verify returned id %q, the header says %q", id, d.header.Get(events.HeaderEventID))
	}
	msg, err := events.Parse(d.body)
	if err != nil || len(msg.Records) != 1 || msg.Records[0].EventName != "s3:ObjectCreated:Put" {
		t.Fatalf("the delivery is not the PUT's event: %v %s", err, d.body)
	}
	sig, err := events.ParseSignature(d.header.Get(events.HeaderSignature))
	if err != nil {
		t.Fatal(err)
	}
	signed := time.Unix(sig.Timestamp, 0)
	// The node dates its signature when it sends, so a receiver's tolerance measures the
	// delivery's age, not the event's.
	if lag := d.at.Sub(signed); lag < -time.Second || lag > 5*time.Second {
		t.Errorf("signed at %s, received at %s", signed, d.at)
	}

	t.Run("a changed body byte is refused", func(t *testing.T) {
		for _, at := range []int{0, len(d.body) / 2, len(d.body) - 1} {
			body := bytes.Clone(d.body)
			body[at] ^= 0x01
			if _, err := events.Verify(d.header, body, secrets, d.at, events.DefaultTolerance); !errors.Is(err, events.ErrSignatureMismatch) {
				t.Errorf("body byte %d changed: %v, want %v", at, err, events.ErrSignatureMismatch)
			}
		}
	})

	t.Run("a changed signature, timestamp or event id is refused", func(t *testing.T) {
		flipped := bytes.Clone(sig.V1[0])
		flipped[len(flipped)-1] ^= 0x01
		redated := d.at.Add(time.Minute)
		cases := map[string]struct {
			header http.Header
			now    time.Time
		}{
			"one signature bit": {with(d.header, events.HeaderSignature, events.Signature{Timestamp: sig.Timestamp, V1: [][]byte{flipped}}.String()), d.at},
			// A replay cannot be made fresh by dating it again: the timestamp is signed.
			"the timestamp moved a minute on": {with(d.header, events.HeaderSignature, events.Signature{Timestamp: redated.Unix(), V1: sig.V1}.String()), redated},
			// Nor can it dodge the receiver's once-per-id check: the id is signed.
			"another event id":           {with(d.header, events.HeaderEventID, events.NewID()), d.at},
			"signed with another secret": {events.Sign([]byte("not-the-secret-at-all"), id, d.body, signed), d.at},
		}
		for name, c := range cases {
			if _, err := events.Verify(c.header, d.body, secrets, c.now, events.DefaultTolerance); !errors.Is(err, events.ErrSignatureMismatch) {
				t.Errorf("%s: %v, want %v", name, err, events.ErrSignatureMismatch)
			}
		}
	})

	t.Run("replayed past the tolerance it is refused", func(t *testing.T) {
		if _, err := events.Verify(d.header, d.body, secrets, signed.Add(events.DefaultTolerance), events.DefaultTolerance); err != nil {
			t.Errorf("replayed at the edge of the %s tolerance: %v, want accepted", events.DefaultTolerance, err)
		}
		late := signed.Add(events.DefaultTolerance + time.Second)
		if _, err := events.Verify(d.header, d.body, secrets, late, events.DefaultTolerance); !errors.Is(err, events.ErrStaleTimestamp) {
			t.Errorf("replayed %s after signing: %v, want %v", late.Sub(signed), err, events.ErrStaleTimestamp)
		}
		// A tolerance of 0 means the default, not "anything goes".
		if _, err := events.Verify(d.header, d.body, secrets, late, 0); !errors.Is(err, events.ErrStaleTimestamp) {
			t.Errorf("replayed %s after signing, tolerance 0: %v, want %v", late.Sub(signed), err, events.ErrStaleTimestamp)
		}
		// A receiver that chose a tighter tolerance refuses it sooner.
		if _, err := events.Verify(d.header, d.body, secrets, signed.Add(time.Minute+time.Second), time.Minute); !errors.Is(err, events.ErrStaleTimestamp) {
			t.Errorf("replayed 61s after signing, tolerance 1m: %v, want %v", err, events.ErrStaleTimestamp)
		}
	})
}

// with is a copy of h with header name set to value.
func with(h http.Header, name, value string) http.Header {
	c := h.Clone()
	c.Set(name, value)
	return c
}

// TestOutboxDepthIsAMetric: the node's health and its event backlog are visible on
// /_presign/, beside the S3 API.
func TestOutboxDepthIsAMetric(t *testing.T) { forEachBackend(t, testOutboxDepthIsAMetric) }

func testOutboxDepthIsAMetric(t *testing.T, storageNode nodeFactory) {
	rc := newReceiver(t)
	rc.down.Store(true)
	node := notifyingNode(t, storageNode, rc)
	ep := node.url("storage node")
	if st, _, b := httpDo(t, http.MethodGet, ep+"/_presign/healthz", nil, nil); st != 200 || string(b) != "ok\n" {
		t.Fatalf("healthz: %d %q", st, b)
	}
	mustCreateBucket(t, ep, "metrics")
	if _, err := awsClient(ep).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("metrics"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	st, _, b := httpDo(t, http.MethodGet, ep+"/_presign/metrics", nil, nil)
	if st != 200 || !strings.Contains(string(b), "presign_outbox_depth 1") {
		t.Fatalf("metrics: %d\n%s", st, b)
	}
}
