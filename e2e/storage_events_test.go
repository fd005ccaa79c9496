package e2e

import (
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
	got := rc.waitFor(t, len(want), 30*time.Second)
	time.Sleep(700 * time.Millisecond) // room for a duplicate to show up
	got = rc.events()
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

// TestForgedAndReplayedDeliveriesAreRecognisable: a receiver tells a forged delivery (bad
// signature) and a replayed one (stale timestamp) from a genuine one.
func TestForgedAndReplayedDeliveriesAreRecognisable(t *testing.T) {
	body := []byte(`{"Records":[]}`)
	now := time.Now()
	genuine := events.Sign([]byte(webhookSecret), "evt-1", body, now)
	secrets := [][]byte{[]byte(webhookSecret)}
	if _, err := events.Verify(genuine, body, secrets, now, events.DefaultTolerance); err != nil {
		t.Fatalf("genuine delivery refused: %v", err)
	}
	forged := events.Sign([]byte("not-the-secret-at-all"), "evt-1", body, now)
	if _, err := events.Verify(forged, body, secrets, now, events.DefaultTolerance); !errors.Is(err, events.ErrSignatureMismatch) {
		t.Fatalf("forged delivery: %v", err)
	}
	if _, err := events.Verify(genuine, []byte(`{"Records":[{}]}`), secrets, now, events.DefaultTolerance); !errors.Is(err, events.ErrSignatureMismatch) {
		t.Fatalf("altered body: %v", err)
	}
	if _, err := events.Verify(genuine, body, secrets, now.Add(10*time.Minute), events.DefaultTolerance); !errors.Is(err, events.ErrStaleTimestamp) {
		t.Fatalf("replayed delivery: %v", err)
	}
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
