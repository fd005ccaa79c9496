package storage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"presign/events"
	"presign/events/outbox"
	"presign/storage"
)

// eventSink is the path a node's events really take: an outbox.Log on disk, an
// outbox.Deliverer, and a webhook on a real listener that checks each delivery's signature and
// keeps the records.
type eventSink struct {
	Log *outbox.Log

	mu      sync.Mutex
	records []events.Record
	ids     []string // X-Presign-Event-Id of each record's delivery
}

// startEventSink opens a log and delivers it to a webhook until the test ends.
func startEventSink(t *testing.T) *eventSink {
	t.Helper()
	secret := []byte("event-sink-secret")
	log, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &eventSink{Log: log}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, err := events.Verify(r.Header, body, [][]byte{secret}, time.Now(), time.Minute)
		if err != nil {
			t.Errorf("delivery with a bad signature: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		msg, err := events.Parse(body)
		if err != nil {
			t.Errorf("delivery that does not parse: %v\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, rec := range msg.Records {
			s.records = append(s.records, rec)
			s.ids = append(s.ids, id)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	d, err := outbox.NewDeliverer(log, []outbox.Target{{Name: "test", URL: hook.URL, Secret: secret}},
		outbox.DelivererOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		d.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-ran
		d.Close()
		hook.Close()
		log.Close()
	})
	return s
}

// delivered waits until every event the log holds has reached the webhook and been
// acknowledged, then returns all records received so far. Once Len is 0, an event appended
// before the call can no longer be on its way: its entry leaves the log only after the
// webhook has answered it.
func (s *eventSink) delivered(t *testing.T) []events.Record {
	records, _ := s.deliveredWithIDs(t)
	return records
}

// deliveredWithIDs is delivered with the event id of each record's delivery.
func (s *eventSink) deliveredWithIDs(t *testing.T) ([]events.Record, []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // a guard against a hang, not a measurement
	for s.Log.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still undelivered", s.Log.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.records), slices.Clone(s.ids)
}

// checkRecord asserts an event's name, bucket, key, size and ETag, and that it has a
// sequencer; it returns the sequencer's value.
func checkRecord(t *testing.T, r events.Record, name events.Name, key string, size int64, etag string) uint64 {
	t.Helper()
	o := r.S3.Object
	got, err := o.DecodedKey()
	if err != nil {
		t.Fatalf("event key %q: %v", o.Key, err)
	}
	if r.EventName != name || r.S3.Bucket.Name != mpBucket || got != key || o.Size != size || o.ETag != strings.Trim(etag, `"`) {
		t.Fatalf("event %s %s/%s size %d ETag %s; want %s %s/%s size %d ETag %s",
			r.EventName, r.S3.Bucket.Name, got, o.Size, o.ETag, name, mpBucket, key, size, strings.Trim(etag, `"`))
	}
	if o.Sequencer == "" {
		t.Fatalf("%s event without a sequencer", name)
	}
	seq, err := o.SequencerValue()
	if err != nil || seq == 0 {
		t.Fatalf("%s event sequencer %q: %d, %v", name, o.Sequencer, seq, err)
	}
	return seq
}

// TestPostAndCompleteEmitTheirEventNames: a browser POST form emits s3:ObjectCreated:Post and
// a completed multipart upload s3:ObjectCreated:CompleteMultipartUpload, each with the key,
// size and ETag of the object made and a sequencer that orders the two changes of the key.
func TestPostAndCompleteEmitTheirEventNames(t *testing.T) {
	sink := startEventSink(t)
	n := startMultipartNode(t, func(c *storage.Config) { c.Events = sink.Log })
	key := "u/5/clip ünï+1.mp4"

	p := minio.NewPostPolicy()
	p.SetBucket(mpBucket)
	p.SetKey(key)
	p.SetContentLengthRange(1, 4096)
	p.SetExpires(time.Now().Add(10 * time.Minute))
	u, fields, err := n.Minio.PresignedPostPolicy(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	form := mpData("form", 3000)
	resp, body := postForm(t, u.String(), sortedFields(fields), "clip.mp4", form, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST form: %d %s", resp.StatusCode, body)
	}
	got := sink.delivered(t)
	if len(got) != 1 {
		t.Fatalf("the POST delivered %d events, want 1: %+v", len(got), got)
	}
	postSeq := checkRecord(t, got[0], events.ObjectCreatedPost, key, int64(len(form)), resp.Header.Get("ETag"))

	id := n.create(t, key, nil)
	p1, p2 := mpData("p1", 5*mib), mpData("p2", 10)
	done, err := n.complete(t.Context(), key, id, n.uploadPart(t, key, id, 1, p1), n.uploadPart(t, key, id, 2, p2))
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	got = sink.delivered(t)
	if len(got) != 2 {
		t.Fatalf("after the completion %d events were delivered, want 2: %+v", len(got), got)
	}
	completeSeq := checkRecord(t, got[1], events.ObjectCreatedCompleteMultipartUpload, key, int64(len(p1)+len(p2)), aws.ToString(done.ETag))
	if completeSeq <= postSeq || got[1].S3.Object.Sequencer <= got[0].S3.Object.Sequencer {
		t.Fatalf("the completion's sequencer %s does not follow the POST's %s", got[1].S3.Object.Sequencer, got[0].S3.Object.Sequencer)
	}
}

// TestRetriedCompleteAfterDeliveryEmitsNoSecondEvent: a client that retries a completion after
// the first one's event has already been delivered (and so has left the log, which can no
// longer refuse a repeat of its sequencer) gets the same answer, and the webhook receives one
// CompleteMultipartUpload event: every delivery of it carries the same event id, which
// receivers apply once (docs/storage-node.md, Events). TestRetriedCompleteAnswersTheSame
// covers the retry while the event is still in the log.
func TestRetriedCompleteAfterDeliveryEmitsNoSecondEvent(t *testing.T) {
	sink := startEventSink(t)
	n := startMultipartNode(t, func(c *storage.Config) { c.Events = sink.Log })
	id := n.create(t, "k", nil)
	parts := []types.CompletedPart{n.uploadPart(t, "k", id, 1, mpData("1", 5*mib)), n.uploadPart(t, "k", id, 2, mpData("2", 3))}
	first, err := n.complete(t.Context(), "k", id, parts...)
	if err != nil {
		t.Fatal(err)
	}
	if got := sink.delivered(t); len(got) != 1 {
		t.Fatalf("the completion delivered %d events, want 1", len(got))
	}
	again, err := n.complete(t.Context(), "k", id, parts...)
	if err != nil || aws.ToString(again.ETag) != aws.ToString(first.ETag) {
		t.Fatalf("retried completion: %v, ETag %s; want %s", err, aws.ToString(again.ETag), aws.ToString(first.ETag))
	}
	got, ids := sink.deliveredWithIDs(t)
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(ids)))); distinct != 1 {
		t.Fatalf("after a retried completion the webhook received %d distinct events, want 1:\n%s", distinct, recordList(got, ids))
	}
	for _, r := range got {
		checkRecord(t, r, events.ObjectCreatedCompleteMultipartUpload, "k", 5*mib+3, aws.ToString(first.ETag))
	}
	t.Logf("deliveries of the one event: %d", len(got))
}

func recordList(rs []events.Record, ids []string) string {
	var b strings.Builder
	for i, r := range rs {
		fmt.Fprintf(&b, "id %s %s %s seq %s\n", ids[i], r.EventName, r.S3.Object.Key, r.S3.Object.Sequencer)
	}
	return b.String()
}

// TestPutObjectEventKeepsItsName guards the sink itself: a plain PUT arrives as
// s3:ObjectCreated:Put, so the names above are not what the sink makes of any event.
func TestPutObjectEventKeepsItsName(t *testing.T) {
	sink := startEventSink(t)
	n := startMultipartNode(t, func(c *storage.Config) { c.Events = sink.Log })
	out, err := n.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("plain"), Body: strings.NewReader("12345")})
	if err != nil {
		t.Fatal(err)
	}
	got := sink.delivered(t)
	if len(got) != 1 {
		t.Fatalf("%d events, want 1", len(got))
	}
	checkRecord(t, got[0], events.ObjectCreatedPut, "plain", 5, aws.ToString(out.ETag))
}
