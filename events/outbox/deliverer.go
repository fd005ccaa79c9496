package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"presign/events"
)

// Target is a webhook that receives every event.
type Target struct {
	// Name identifies the target's delivery progress in the log, and labels its metrics and
	// logs. When empty, progress is keyed by a hash of URL and the label is URL without its
	// query. Renaming a target (or changing the URL of an unnamed one) makes it a new target,
	// which receives every entry still in the log.
	Name string
	// URL receives a POST per event. http or https.
	URL string
	// Secret signs the deliveries (see events.Sign). It is never logged.
	Secret []byte
}

// String describes t without its secret or the URL's query and user info.
func (t Target) String() string {
	return fmt.Sprintf("Target{Name: %q, URL: %q}", t.Name, redactURL(t.URL))
}

// GoString is String, so %#v does not print the secret either.
func (t Target) GoString() string { return t.String() }

// LogValue keeps the secret out of structured logs.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", t.Name), slog.String("url", redactURL(t.URL)))
}

// redactURL returns u without user info, query and fragment, which may hold credentials.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// DelivererOptions configure a Deliverer. Zero values select the defaults.
type DelivererOptions struct {
	// Lanes is how many keys' events each target receives in parallel (default 4). Entries go
	// to a lane by a hash of their Key, and each lane delivers its entries one at a time in Seq
	// order, so one slow or failing key holds up only its own lane.
	Lanes int
	// MinBackoff and MaxBackoff bound the wait before a retry (defaults 1 s and 5 min): it
	// doubles from MinBackoff on each failure of the same entry, up to MaxBackoff, with jitter.
	// A Retry-After answer lengthens it, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt, from connecting to reading the answer (default 10 s).
	Timeout time.Duration
	// Client sends the requests; nil means a client that does not follow redirects (a 3xx
	// answer is a failed attempt) and keeps a few connections per target open.
	Client *http.Client
	// Logger receives delivery logs; nil means slog.Default().
	Logger *slog.Logger
	// LogInterval is how often a target that keeps failing is logged again (default 1 min).
	// The first failure and the recovery are always logged.
	LogInterval time.Duration
	// Registerer receives the delivery metrics; nil registers none. Close unregisters them.
	Registerer prometheus.Registerer
}

// Deliverer sends the entries of a Log to its targets. Create it with NewDeliverer, start it
// with Run, stop it by ending Run's context or with Close.
type Deliverer struct {
	log     *Log
	targets []*target
	ids     [][]byte
	opts    DelivererOptions
	client  *http.Client
	logger  *slog.Logger
	metrics *deliveryMetrics

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// target is a Target with its delivery state.
type target struct {
	Target
	id    []byte
	label string
	url   string // redacted, for logs
	state health
}

// NewDeliverer checks the targets and prepares their delivery. It needs at least one target,
// each with an http(s) URL and a non-empty secret, and distinct identities (see Target.Name).
func NewDeliverer(log *Log, targets []Target, opts DelivererOptions) (*Deliverer, error) {
	if len(targets) == 0 {
		return nil, errors.New("outbox: no targets")
	}
	if opts.Lanes <= 0 {
		opts.Lanes = 4
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.LogInterval <= 0 {
		opts.LogInterval = time.Minute
	}
	d := &Deliverer{log: log, opts: opts, client: opts.Client, logger: opts.Logger}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	if d.client == nil {
		d.client = defaultClient(opts)
	}
	seen := map[string]bool{}
	for i, t := range targets {
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("outbox: target %d: URL %q is not an http(s) URL", i, redactURL(t.URL))
		}
		if len(t.Secret) == 0 {
			return nil, fmt.Errorf("outbox: target %d (%s): empty secret", i, redactURL(t.URL))
		}
		rt := &target{Target: t, id: []byte("name:" + t.Name), label: t.Name, url: redactURL(t.URL)}
		if t.Name == "" {
			sum := sha256.Sum256([]byte(t.URL))
			rt.id = []byte("url:" + hex.EncodeToString(sum[:16]))
			rt.label = rt.url
		}
		if seen[string(rt.id)] {
			return nil, fmt.Errorf("outbox: target %d (%s): same identity as an earlier target; give them distinct names", i, rt.url)
		}
		seen[string(rt.id)] = true
		d.targets = append(d.targets, rt)
		d.ids = append(d.ids, rt.id)
	}
	var err error
	if d.metrics, err = newDeliveryMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	for _, t := range d.targets {
		d.metrics.up.WithLabelValues(t.label).Set(1)
	}
	return d, nil
}

func defaultClient(opts DelivererOptions) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = opts.Timeout
	tr.MaxIdleConnsPerHost = 2 * opts.Lanes
	return &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Run delivers until ctx ends or Close is called, then returns nil. It returns ErrClosed if the
// Log is closed under it (noticed at the next read or acknowledgement; stop the Deliverer
// before closing the Log). First it removes entries that every configured target has
// acknowledged. Entries a previous run sent but did not see acknowledged are sent again.
// Run may be called once.
func (d *Deliverer) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running || d.closed {
		d.mu.Unlock()
		return errors.New("outbox: Deliverer.Run called twice or after Close")
	}
	d.running = true
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	d.mu.Unlock()
	defer close(d.done)
	defer d.cancel()

	if err := d.log.sweep(ctx, d.ids); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for _, t := range d.targets {
		for i := range d.opts.Lanes {
			ln := &lane{d: d, t: t, index: uint32(i), count: uint32(d.opts.Lanes), sub: d.log.subscribe()}
			wg.Go(func() {
				defer d.log.unsubscribe(ln.sub)
				if err := ln.run(ctx); err != nil {
					errOnce.Do(func() { firstErr = err })
					d.cancel()
				}
			})
		}
	}
	wg.Wait()
	return firstErr
}

// Close stops Run, waits for it to return, and unregisters the metrics. Entries being sent
// when it stops are sent again by the next Run.
func (d *Deliverer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	running := d.running
	if running {
		d.cancel()
	}
	d.mu.Unlock()
	if running {
		<-d.done
	}
	d.metrics.unregister()
	return nil
}

// lane delivers, in Seq order, the entries whose key hashes to it.
type lane struct {
	d            *Deliverer
	t            *target
	index, count uint32
	sub          *subscription
}

// Scan bounds: entries fetched per read transaction, and entries examined per transaction
// (most belong to other lanes).
const (
	scanMax   = 64
	scanLimit = 4096
)

func laneOf(key []byte, count uint32) uint32 {
	h := fnv.New32a()
	h.Write(key)
	return h.Sum32() % count
}

func (ln *lane) match(key []byte) bool {
	return laneOf(key, ln.count) == ln.index
}

func (ln *lane) run(ctx context.Context) error {
	var after uint64
	failures := 0
	for {
		if low := ln.sub.take(); low != 0 && low <= after {
			after = low - 1
		}
		res, err := ln.d.log.scan(ln.t.id, after, ln.match, scanMax, scanLimit)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			failures++
			ln.d.logger.Error("outbox read failed", "error", err)
			if !sleep(ctx, backoff(failures, ln.d.opts.MinBackoff, ln.d.opts.MaxBackoff)) {
				return nil
			}
			continue
		}
		failures = 0
		for _, e := range res.entries {
			if err := ln.deliver(ctx, e); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		after = res.last
		if res.more || len(res.entries) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ln.sub.wake:
		}
	}
}

// deliver sends e until the target acknowledges it, then records the acknowledgement. It
// returns only when both are done, or with an error when ctx ends or the Log is closed.
func (ln *lane) deliver(ctx context.Context, e events.Entry) error {
	opts := ln.d.opts
	for attempt := 1; ; attempt++ {
		started := time.Now()
		status, retryAfter, err := ln.d.send(ctx, ln.t, e)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			ln.d.succeeded(ln.t, time.Now(), status)
			break
		}
		ln.d.failed(ln.t, e, started, attempt, status, err)
		wait := backoff(attempt, opts.MinBackoff, opts.MaxBackoff)
		if retryAfter > wait {
			wait = min(retryAfter, opts.MaxBackoff)
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
	for attempt := 1; ; attempt++ {
		err := ln.d.log.ack(ctx, ln.t.id, e.Seq, ln.d.ids)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return err
		}
		// A full disk is the operator's to free, not a fault of the node: WARN, as the 507s.
		level := slog.LevelError
		if IsNoSpace(err) {
			level = slog.LevelWarn
		}
		ln.d.logger.Log(ctx, level, "outbox acknowledgement not recorded; retrying", "target", ln.t.label, "seq", e.Seq, "error", err)
		if !sleep(ctx, backoff(attempt, opts.MinBackoff, opts.MaxBackoff)) {
			return ctx.Err()
		}
	}
}

// sleep waits for d or until ctx ends; it reports whether the wait was completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
