package outbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"presign/events"
)

// receiver is a webhook on 127.0.0.1 that does what a real one must: it verifies each
// delivery's signature, applies each event id once, and checks the per-key order of what it
// applies.
type receiver struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server

	mu        sync.Mutex
	status    int                        // answer while not 0 (e.g. 503 = down)
	failKey   string                     // answer 500 for events of this key
	hold      uint64                     // record this Seq, then hang until the client gives up
	seen      map[string]bool            // event ids applied
	lastSeq   map[string]uint64          // key → Seq of the last event applied
	applied   []string                   // event ids in the order applied
	dups      int                        // deliveries of an id already applied
	forged    int                        // deliveries that failed Verify
	outOfSeq  []string                   // per-key order violations
	onApplied func(id string, count int) // called after each new id, outside mu
}

// newReceiver starts a receiver listening on addr ("" = any free port on 127.0.0.1).
func newReceiver(t *testing.T, secret string, addr string) *receiver {
	t.Helper()
	r := &receiver{t: t, secret: []byte(secret), seen: map[string]bool{}, lastSeq: map[string]uint64{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s again: %v", addr, err)
		}
		r.srv.Listener.Close()
		r.srv.Listener = ln
	}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hook" }

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, events.MaxEntryBodyLen+1))
	if err != nil {
		return
	}
	id, err := events.Verify(req.Header, body, [][]byte{r.secret}, time.Now(), 0)
	if err != nil {
		r.mu.Lock()
		r.forged++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	msg, err := events.Parse(body)
	if err != nil || len(msg.Records) != 1 {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	obj := msg.Records[0].S3.Object
	key, _ := obj.DecodedKey()
	seq, _ := obj.SequencerValue()

	r.mu.Lock()
	if r.status != 0 || key == r.failKey {
		s := r.status
		if s == 0 {
			s = http.StatusInternalServerError
		}
		r.mu.Unlock()
		w.WriteHeader(s)
		return
	}
	if r.seen[id] {
		r.dups++
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	if last, ok := r.lastSeq[key]; ok && last >= seq {
		r.outOfSeq = append(r.outOfSeq, fmt.Sprintf("key %q: %d after %d", key, seq, last))
	}
	r.seen[id] = true
	r.lastSeq[key] = seq
	r.applied = append(r.applied, id)
	n, hook, hold := len(r.applied), r.onApplied, r.hold == seq
	r.mu.Unlock()
	if hook != nil {
		hook(id, n)
	}
	if hold {
		<-req.Context().Done()
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

// check fails the test unless the receiver applied exactly the ids of want, in per-key order,
// and saw no forged delivery.
func (r *receiver) check(want []events.Entry) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forged != 0 {
		r.t.Errorf("%d deliveries failed verification", r.forged)
	}
	for _, v := range r.outOfSeq {
		r.t.Errorf("per-key order broken: %s", v)
	}
	if len(r.applied) != len(want) {
		r.t.Errorf("applied %d events, want %d", len(r.applied), len(want))
	}
	for _, e := range want {
		if !r.seen[e.ID] {
			r.t.Errorf("event seq %d (%s) never arrived", e.Seq, e.ID)
		}
	}
}

// freeAddr returns a 127.0.0.1 address on which nothing listens (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// makeEntries returns n events numbered from first, spread round-robin over keys.
func makeEntries(t testing.TB, first uint64, n int, keys ...string) []events.Entry {
	t.Helper()
	out := make([]events.Entry, n)
	for i := range out {
		seq := first + uint64(i)
		key := keys[i%len(keys)]
		body, err := events.Marshal(events.NewRecord(events.ObjectEvent{
			Name: events.ObjectCreatedPut, Time: time.Now(), Region: "us-east-1",
			Bucket: "b", Key: key, Size: int64(seq), ETag: "d41d8cd98f00b204e9800998ecf8427e",
			Sequencer: seq, RequestID: fmt.Sprintf("REQ%d", seq), Principal: "AKIAEXAMPLE",
		}))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = events.Entry{Seq: seq, ID: events.NewID(), Key: "b/" + key, Body: body}
	}
	return out
}

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(filepath.Join(dir, "outbox.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first, so this Close follows the stop of every Deliverer
	// that start runs on l, as Close requires; closed first, the log ends a running
	// Deliverer's Run with ErrClosed.
	t.Cleanup(func() { l.Close() })
	return l
}

// appendAll appends entries one Append at a time, as the storage node does.
func appendAll(t testing.TB, l *Log, entries []events.Entry) {
	t.Helper()
	for _, e := range entries {
		if err := l.Append(context.Background(), []events.Entry{e}); err != nil {
			t.Fatalf("append seq %d: %v", e.Seq, err)
		}
	}
}

// fastOptions retry within milliseconds so tests finish quickly.
func fastOptions(logger *slog.Logger) DelivererOptions {
	return DelivererOptions{
		Lanes:      4,
		MinBackoff: 2 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond,
		Timeout:    5 * time.Second,
		Logger:     logger,
	}
}

// discard is a logger for tests that do not look at logs.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// running is a Deliverer started in the background.
type running struct {
	d    *Deliverer
	done chan error
	once sync.Once
}

func start(t *testing.T, l *Log, targets []Target, opts DelivererOptions) *running {
	t.Helper()
	d, err := NewDeliverer(l, targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{d: d, done: make(chan error, 1)}
	go func() { r.done <- d.Run(context.Background()) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop closes the Deliverer and fails the test if Run ended with an error.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.d.Close()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually waits up to a generous deadline for cond; a liveness bound, not a speed check.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
