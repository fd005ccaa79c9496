package appevents

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"presign/internal/egress"
)

// DelivererOptions configure a Deliverer. Zero values select the defaults.
type DelivererOptions struct {
	// Retry is the backoff between attempts and the dead-letter time.
	Retry Retry
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Lease is how long a claim keeps a delivery from other replicas (default 2×Timeout+10 s).
	// An attempt starts only while at least Timeout+5 s of its lease remain, so a delivery is
	// never in flight from two replicas at once; a replica that dies holding claims delays
	// their deliveries by at most the lease.
	Lease time.Duration
	// Concurrency bounds the attempts in flight (default 512); PerEndpoint bounds those to one
	// endpoint (default 128), so that a slow endpoint leaves room for the others: a delivery
	// claimed for an endpoint at its bound is put back for a moment, not waited on.
	Concurrency, PerEndpoint int
	// Batch is how many deliveries one claim takes at most (default 512). Claims and outcomes
	// are writes to the store, so the deliverer's rate is about Batch per store commit.
	Batch int
	// Poll is how often the outbox is read when nothing Kicks the deliverer (default 1 s): for
	// retries that fall due, and for events other replicas wrote.
	Poll time.Duration
	// Egress applies to endpoints that are not Trusted.
	Egress egress.Policy
	// Resolver resolves endpoint hosts when not nil.
	Resolver *net.Resolver
	// Name identifies presign to brokers (default "presign").
	Name string
	// Logger receives delivery logs (never a secret or a URL's credentials); nil means
	// slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called with every outcome after it is recorded (metrics).
	Observe func(Delivery, Outcome)
}

func (o DelivererOptions) withDefaults() DelivererOptions {
	o.Retry = o.Retry.withDefaults()
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2*o.Timeout + 10*time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 512
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 128
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Name == "" {
		o.Name = "presign"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Deliverer sends the Outbox's deliveries to their endpoints: it claims what is due, attempts
// each delivery with its endpoint's sink, and records the outcomes in batches. Create it with
// NewDeliverer, run it with Run; Kick it when an event was written.
type Deliverer struct {
	ob   Outbox
	o    DelivererOptions
	kick chan struct{}

	mu        sync.Mutex
	sinks     map[string]*sinkEntry // by endpoint id
	endpoints map[string]*endpointState
	clients   map[bool]*http.Client // by Trusted
}

type sinkEntry struct {
	fingerprint string
	sink        Sink
	used        time.Time
}

// endpointState is what this replica knows of an endpoint: attempts in flight, and whether it
// is failing. A failing endpoint gets one attempt (a probe) per backoff period; the deliveries
// claimed meanwhile wait for the probe's answer instead of each timing out on their own.
type endpointState struct {
	inflight int
	failures int
	until    time.Time // no attempt before, while failing
	probing  bool
}

// NewDeliverer returns a deliverer of ob's deliveries.
func NewDeliverer(ob Outbox, o DelivererOptions) *Deliverer {
	o = o.withDefaults()
	d := &Deliverer{ob: ob, o: o, kick: make(chan struct{}, 1), sinks: map[string]*sinkEntry{},
		endpoints: map[string]*endpointState{}}
	d.clients = map[bool]*http.Client{
		false: NewHTTPClient(Options{Timeout: o.Timeout, Resolver: o.Resolver, Egress: o.Egress}),
		true:  NewHTTPClient(Options{Timeout: o.Timeout, Resolver: o.Resolver, Egress: egress.Policy{AllowPrivate: true}}),
	}
	return d
}

// Kick tells the deliverer that a delivery may be due now: it claims at once instead of at the
// next Poll. It never blocks.
func (d *Deliverer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight, records their outcomes,
// and closes the sinks.
func (d *Deliverer) Run(ctx context.Context) {
	outcomes := make(chan finished, d.o.Concurrency)
	finisherDone := make(chan struct{})
	go func() { defer close(finisherDone); d.finishLoop(outcomes) }()

	// A claim is a write to the store: under load the deliverer waits until a worthwhile batch
	// of slots is free rather than claiming one delivery per freed slot.
	low := max(1, min(d.o.Batch, d.o.Concurrency/2))
	var inflight atomic.Int64
	released := make(chan struct{}, 1)
	var wg sync.WaitGroup
	poll := time.NewTicker(d.o.Poll)
	defer poll.Stop()
	lastSweep := time.Now()
	for ctx.Err() == nil {
		busy := int(inflight.Load())
		free := d.o.Concurrency - busy
		if busy > 0 && free < low {
			select {
			case <-ctx.Done():
			case <-released:
			}
			continue
		}
		ask := min(free, d.o.Batch)
		ds, err := d.ob.ClaimDeliveries(ctx, time.Now(), d.o.Lease, ask)
		if err != nil && ctx.Err() == nil {
			d.o.Logger.Warn("claiming application event deliveries", "err", err)
		}
		claimed := time.Now()
		for _, dl := range ds {
			inflight.Add(1)
			wg.Go(func() {
				defer func() {
					inflight.Add(-1)
					select {
					case released <- struct{}{}:
					default:
					}
				}()
				outcomes <- finished{dl, d.attempt(ctx, dl, claimed)}
			})
		}
		if len(ds) == ask {
			continue // there may be more due right now
		}
		if time.Since(lastSweep) > time.Minute {
			d.closeIdleSinks(10 * time.Minute)
			lastSweep = time.Now()
		}
		select { // nothing more is due: wait for news
		case <-ctx.Done():
		case <-d.kick:
		case <-poll.C:
		}
	}
	wg.Wait()
	close(outcomes)
	<-finisherDone
	d.closeIdleSinks(0)
}

// finished pairs a delivery with its outcome, for Observe.
type finished struct {
	d   Delivery
	out Outcome
}

// finishLoop records outcomes, as many at once as have arrived while the previous batch was
// being written (group commit), and kicks the claimer after each batch: a recorded delivery
// may have been holding up its upload's next event.
func (d *Deliverer) finishLoop(in <-chan finished) {
	batch := make([]finished, 0, d.o.Batch)
	outs := make([]Outcome, 0, d.o.Batch)
	for f := range in {
		batch = append(batch[:0], f)
	more:
		for len(batch) < d.o.Batch {
			select {
			case f, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, f)
			default:
				break more
			}
		}
		outs = outs[:0]
		for _, f := range batch {
			outs = append(outs, f.out)
		}
		d.record(outs)
		if d.o.Observe != nil {
			for _, f := range batch {
				d.o.Observe(f.d, f.out)
			}
		}
		d.Kick()
	}
}

// record writes outcomes, retrying while the store fails for up to a lease: past that the
// claims have expired and another claim will try the deliveries again.
func (d *Deliverer) record(outs []Outcome) {
	deadline := time.Now().Add(d.o.Lease)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), d.o.Timeout)
		err := d.ob.FinishDeliveries(ctx, outs)
		cancel()
		if err == nil {
			return
		}
		if time.Now().Add(wait).After(deadline) {
			d.o.Logger.Error("recording application event deliveries failed; they will be attempted again",
				"deliveries", len(outs), "err", err)
			return
		}
		d.o.Logger.Warn("recording application event deliveries", "deliveries", len(outs), "err", err)
		time.Sleep(wait)
	}
}

// attempt makes one attempt at dl, unless its endpoint is backing off or busy, or the claim is
// too old to finish within its lease.
func (d *Deliverer) attempt(ctx context.Context, dl Delivery, claimed time.Time) Outcome {
	out := Outcome{DeliveryID: dl.ID, Claim: dl.Claim}
	now := time.Now()
	if now.Add(d.o.Timeout + 5*time.Second).After(claimed.Add(d.o.Lease)) {
		out.NextAt = now
		return out
	}
	if wait, ok := d.enter(dl.Endpoint.ID, now); !ok {
		out.NextAt = now.Add(wait)
		return out
	}
	out.Attempted, out.At = true, now
	r, err := d.send(ctx, dl)
	out.Duration = time.Since(now)
	out.Status, out.Response = r.Status, r.Response
	d.leave(dl.Endpoint.ID, err == nil)
	if err == nil {
		out.Delivered = true
		return out
	}
	out.Error = err.Error()
	out.NextAt, out.Dead = d.o.Retry.Next(dl.Attempts+1, dl.Since, time.Now(), r.RetryAfter)
	if out.Dead {
		d.o.Logger.Warn("application event delivery dead-lettered", "endpoint", dl.Endpoint.ID, "event", dl.EventID,
			"type", dl.Type, "attempts", dl.Attempts+1, "err", out.Error)
	} else if dl.Attempts == 0 {
		d.o.Logger.Info("application event delivery failed; retrying", "endpoint", dl.Endpoint.ID, "event", dl.EventID,
			"status", r.Status, "err", out.Error, "next", out.NextAt)
	}
	return out
}

// enter takes an attempt slot of the endpoint, or says how long to put the delivery back for.
func (d *Deliverer) enter(id string, now time.Time) (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.endpoints[id]
	if st == nil {
		st = &endpointState{}
		d.endpoints[id] = st
	}
	jitter := time.Duration(rand.N(int64(250 * time.Millisecond)))
	switch {
	case st.inflight >= d.o.PerEndpoint:
		return 100*time.Millisecond + jitter, false
	case st.failures > 0 && now.Before(st.until):
		return st.until.Sub(now) + jitter, false
	case st.failures > 0 && st.probing:
		return d.o.Retry.Min + jitter, false
	}
	st.probing = st.failures > 0
	st.inflight++
	return 0, true
}

// leave returns the slot and records whether the attempt succeeded.
func (d *Deliverer) leave(id string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.endpoints[id]
	st.inflight--
	st.probing = false
	if ok {
		st.failures, st.until = 0, time.Time{}
		return
	}
	st.failures++
	// Half the backoff: the failed delivery's own retry, jittered into the upper half, is
	// never put off by the endpoint's pause; the others wait for it.
	st.until = time.Now().Add(d.o.Retry.Backoff(st.failures) / 2)
}

// send attempts dl with its endpoint's sink, opening the sink when needed.
func (d *Deliverer) send(ctx context.Context, dl Delivery) (Receipt, error) {
	s, err := d.sink(dl.Endpoint)
	if err != nil {
		return Receipt{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.Timeout)
	defer cancel()
	return s.Send(ctx, Message{ID: dl.EventID, Type: dl.Type, Key: dl.UploadID, Body: dl.Body})
}

// sink returns the endpoint's open sink; a changed URL, secret or trust opens a new one.
func (d *Deliverer) sink(ep Endpoint) (Sink, error) {
	fp := ep.URL + "\x00" + ep.Secret.Encode()
	if ep.Trusted {
		fp += "\x00trusted"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.sinks[ep.ID]; e != nil {
		if e.fingerprint == fp {
			e.used = time.Now()
			return e.sink, nil
		}
		e.sink.Close()
		delete(d.sinks, ep.ID)
	}
	o := Options{Timeout: d.o.Timeout, Resolver: d.o.Resolver, Name: d.o.Name, Logger: d.o.Logger,
		Egress: d.o.Egress, HTTPClient: d.clients[ep.Trusted]}
	if ep.Trusted {
		o.Egress = egress.Policy{AllowPrivate: true}
	}
	if !ep.Secret.IsZero() {
		o.Secrets = []Secret{ep.Secret}
	}
	s, err := Open(ep.URL, o)
	if err != nil {
		return nil, err
	}
	d.sinks[ep.ID] = &sinkEntry{fingerprint: fp, sink: s, used: time.Now()}
	return s, nil
}

// closeIdleSinks closes the sinks unused for idle (all of them for 0).
func (d *Deliverer) closeIdleSinks(idle time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, e := range d.sinks {
		if idle == 0 || time.Since(e.used) > idle {
			e.sink.Close()
			delete(d.sinks, id)
		}
	}
	for id, st := range d.endpoints {
		if st.inflight == 0 && st.failures == 0 {
			delete(d.endpoints, id)
		}
	}
}
