package appevents_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/control/appevents"
)

// memOutbox keeps deliveries in memory with the Outbox contract's claims and leases; the
// control plane's stores keep them in SQLite and PostgreSQL, where storetest checks the same
// contract.
type memOutbox struct {
	mu    sync.Mutex
	rows  []*memRow
	outs  []appevents.Outcome
	token int
}

type memRow struct {
	d          appevents.Delivery
	state      string // pending, delivered, dead
	next       time.Time
	leaseUntil time.Time
}

func (m *memOutbox) add(ep appevents.Endpoint, n int) []appevents.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := events(n)
	for _, msg := range ms {
		m.rows = append(m.rows, &memRow{state: "pending", d: appevents.Delivery{ID: int64(len(m.rows) + 1),
			EventID: msg.ID, Type: msg.Type, UploadID: msg.Key, Sequence: 1, Since: time.Now(), Body: msg.Body, Endpoint: ep}})
	}
	return ms
}

func (m *memOutbox) ClaimDeliveries(_ context.Context, now time.Time, lease time.Duration, limit int) ([]appevents.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token++
	var out []appevents.Delivery
	for _, r := range m.rows {
		if len(out) == limit {
			break
		}
		if r.state == "pending" && !r.next.After(now) && r.leaseUntil.Before(now) {
			r.leaseUntil = now.Add(lease)
			r.d.Claim = strconv.Itoa(m.token)
			out = append(out, r.d)
		}
	}
	return out, nil
}

func (m *memOutbox) FinishDeliveries(_ context.Context, outs []appevents.Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range outs {
		r := m.rows[o.DeliveryID-1]
		if r.d.Claim != o.Claim || r.state != "pending" {
			continue
		}
		m.outs = append(m.outs, o)
		r.leaseUntil, r.d.Claim = time.Time{}, ""
		r.next = o.NextAt
		if !o.Attempted {
			continue
		}
		r.d.Attempts++
		switch {
		case o.Delivered:
			r.state = "delivered"
		case o.Dead:
			r.state = "dead"
		}
	}
	return nil
}

func (m *memOutbox) states() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.rows {
		out = append(out, r.state)
	}
	return out
}

func (m *memOutbox) outcomes() []appevents.Outcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.outs)
}

// runDeliverer runs a deliverer of ob until t ends.
func runDeliverer(t *testing.T, ob appevents.Outbox, o appevents.DelivererOptions) *appevents.Deliverer {
	o.Logger = slog.New(slog.DiscardHandler)
	d := appevents.NewDeliverer(ob, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDelivererRetriesUntilTheEndpointAnswers2xx(t *testing.T) {
	var n atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	s := appevents.NewSecret()
	ob := &memOutbox{}
	ms := ob.add(appevents.Endpoint{ID: "ep", URL: rcv.URL, Secret: s, Trusted: true}, 1)
	runDeliverer(t, ob, appevents.DelivererOptions{Retry: appevents.Retry{Min: 20 * time.Millisecond, Max: 50 * time.Millisecond},
		Timeout: time.Second, Poll: 10 * time.Millisecond})
	waitUntil(t, "delivered", 10*time.Second, func() bool { return ob.states()[0] == "delivered" })
	got := rcv.received()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for _, r := range got {
		if r.header.Get("webhook-id") != ms[0].ID || appevents.Verify(r.header, r.body, s) != nil {
			t.Fatalf("request %v", r.header)
		}
	}
	var outs []appevents.Outcome
	for _, o := range ob.outcomes() {
		if o.Attempted {
			outs = append(outs, o)
		}
	}
	if len(outs) != 3 || outs[0].Status != 500 || outs[0].Delivered || outs[0].NextAt.IsZero() || !outs[2].Delivered || outs[2].Status != 200 {
		t.Fatalf("outcomes %+v", outs)
	}
}

// An endpoint that keeps failing gets one attempt per backoff period, not one per pending
// delivery: the others are put back without an attempt.
func TestDelivererProbesAFailingEndpointInsteadOfHammeringIt(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	ob := &memOutbox{}
	ob.add(appevents.Endpoint{ID: "ep", URL: rcv.URL, Secret: appevents.NewSecret(), Trusted: true}, 50)
	const perEndpoint = 8
	runDeliverer(t, ob, appevents.DelivererOptions{Retry: appevents.Retry{Min: time.Second, Max: time.Second},
		Timeout: time.Second, Poll: 10 * time.Millisecond, PerEndpoint: perEndpoint})
	waitUntil(t, "first attempts", 5*time.Second, func() bool { return len(rcv.received()) > 0 })
	time.Sleep(500 * time.Millisecond)
	// Within the first backoff period: the first wave (at most PerEndpoint in flight, which
	// raced the first failure) and a probe, not the 50 deliveries.
	if n := len(rcv.received()); n > 2*perEndpoint {
		t.Fatalf("%d attempts at a failing endpoint within one backoff period", n)
	}
	deferred := 0
	for _, o := range ob.outcomes() {
		if !o.Attempted {
			deferred++
		}
	}
	if deferred == 0 {
		t.Fatal("no delivery was put back while the endpoint was failing")
	}
}

func TestDelivererDeadLettersAfterTheDeadline(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	ob := &memOutbox{}
	ob.add(appevents.Endpoint{ID: "ep", URL: rcv.URL, Secret: appevents.NewSecret(), Trusted: true}, 1)
	runDeliverer(t, ob, appevents.DelivererOptions{Retry: appevents.Retry{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond,
		DeadAfter: 200 * time.Millisecond}, Timeout: time.Second, Poll: 10 * time.Millisecond})
	waitUntil(t, "dead", 10*time.Second, func() bool { return ob.states()[0] == "dead" })
	outs := ob.outcomes()
	if last := outs[len(outs)-1]; !last.Dead || last.Status != 502 {
		t.Fatalf("last outcome %+v", last)
	}
}

// Endpoints are independent: one that never answers does not hold up another's deliveries.
func TestDelivererKeepsAHangingEndpointFromDelayingOthers(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	fast := newReceiver(t, nil)
	ob := &memOutbox{}
	ob.add(appevents.Endpoint{ID: "slow", URL: hang.URL, Secret: appevents.NewSecret(), Trusted: true}, 100)
	ob.add(appevents.Endpoint{ID: "fast", URL: fast.URL, Secret: appevents.NewSecret(), Trusted: true}, 100)
	runDeliverer(t, ob, appevents.DelivererOptions{Timeout: 5 * time.Second, Poll: 10 * time.Millisecond, PerEndpoint: 4})
	waitUntil(t, "the fast endpoint's deliveries", 10*time.Second, func() bool { return len(fast.received()) == 100 })
}
