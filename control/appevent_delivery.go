package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"presign/control/appevents"
	"presign/internal/egress"
)

// AppEventsConfig configures the application events the service emits and delivers (see
// package appevents and docs/app-events.md).
type AppEventsConfig struct {
	// Endpoints are the administrator's endpoints: webhook and broker URLs that receive every
	// user's events, trusted to reach any address.
	Endpoints []string
	// Secret signs the configured endpoints' deliveries (whsec_…). A configured webhook needs
	// one; broker messages are signed when there is one.
	Secret string
	// AllowPrivate lets the endpoints users register reach loopback, private and link-local
	// addresses.
	AllowPrivate bool
	// Resolver resolves endpoint host names when not nil (the system's resolver otherwise).
	Resolver *net.Resolver
	// Retry is the backoff between attempts and the dead-letter time.
	Retry appevents.Retry
	// Timeout bounds one attempt (10 s).
	Timeout time.Duration
	// Retention is how long finished deliveries, their attempts and events are kept (7 days).
	Retention time.Duration
	// Poll is how often the deliverer looks for due deliveries when nothing woke it (1 s).
	Poll time.Duration
	// Disabled turns the deliverer off (events are still written with their transitions; a
	// replica with it on delivers them).
	Disabled bool
}

// DefaultAppEventRetention is how long finished deliveries are kept.
const DefaultAppEventRetention = 7 * 24 * time.Hour

// configuredEndpoints turns the configuration's URLs into endpoints; an invalid URL or a
// webhook without a secret is an error, so a misconfiguration fails the start.
func (c AppEventsConfig) configuredEndpoints(now time.Time) ([]Endpoint, error) {
	var out []Endpoint
	seen := map[string]bool{}
	for _, raw := range c.Endpoints {
		if _, err := appevents.CheckURL(raw); err != nil {
			return nil, fmt.Errorf("control: application event endpoint %s: %w", appevents.Redact(raw), err)
		}
		if isWebhook(raw) && c.Secret == "" {
			return nil, fmt.Errorf("control: webhook %s needs a secret to sign with", appevents.Redact(raw))
		}
		if seen[raw] {
			continue
		}
		seen[raw] = true
		out = append(out, Endpoint{ID: ConfiguredEndpointID(raw), AllUsers: true, URL: raw, Events: appevents.AllTypes,
			Secret: c.Secret, Configured: true, Created: now})
	}
	if c.Secret != "" {
		if _, err := appevents.ParseSecret(c.Secret); err != nil {
			return nil, fmt.Errorf("control: application event secret: %w", err)
		}
	}
	return out, nil
}

// appEventMetrics are the deliverer's series.
type appEventMetrics struct {
	deliveries *prometheus.CounterVec // result: delivered, failed, dead, deferred
	latency    prometheus.Histogram   // event written → delivered
	attempt    prometheus.Histogram   // one attempt
}

func newAppEventMetrics() *appEventMetrics {
	return &appEventMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presign_control_app_event_deliveries_total",
			Help: "Application event delivery outcomes on this replica, by result (delivered, failed, dead, deferred)."},
			[]string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "presign_control_app_event_delay_seconds",
			Help:    "Time from an upload's transition to the delivery of its application event.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}}),
		attempt: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "presign_control_app_event_attempt_seconds",
			Help:    "Duration of one application event delivery attempt.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}),
	}
}

func (m *appEventMetrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.latency, m.attempt} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("control: metrics: %w", err)
		}
	}
	return nil
}

func (m *appEventMetrics) observe(d appevents.Delivery, o appevents.Outcome) {
	switch {
	case !o.Attempted:
		m.deliveries.WithLabelValues("deferred").Inc()
		return
	case o.Delivered:
		m.deliveries.WithLabelValues("delivered").Inc()
		m.latency.Observe(o.At.Add(o.Duration).Sub(d.Since).Seconds())
	case o.Dead:
		m.deliveries.WithLabelValues("dead").Inc()
	default:
		m.deliveries.WithLabelValues("failed").Inc()
	}
	m.attempt.Observe(o.Duration.Seconds())
}

// newDeliverer makes the service's deliverer from its configuration.
func (s *Service) newDeliverer() error {
	c := s.cfg.AppEvents
	s.egress = egress.Policy{AllowPrivate: c.AllowPrivate}
	eps, err := c.configuredEndpoints(s.now())
	if err != nil {
		return err
	}
	s.configured = eps
	s.appMetrics = newAppEventMetrics()
	if err := s.appMetrics.register(s.cfg.Registerer); err != nil {
		return err
	}
	s.deliverer = appevents.NewDeliverer(s.store, appevents.DelivererOptions{
		Retry: c.Retry, Timeout: c.Timeout, Poll: c.Poll, Egress: s.egress, Resolver: c.Resolver,
		Logger: s.log.With("component", "app-events"), Observe: s.appMetrics.observe,
	})
	return nil
}

// RunDeliverer makes the stored configured endpoints those of the configuration, then delivers
// application events until ctx ends. Several replicas may run it: each delivery is claimed by
// one at a time.
func (s *Service) RunDeliverer(ctx context.Context) error {
	// The store may not answer yet (a database starting beside this process): try until it does.
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		err := s.store.ConfigureEndpoints(ctx, s.configured, s.now())
		if err == nil {
			break
		}
		if errors.Is(err, ErrInvalid) {
			return fmt.Errorf("configure application event endpoints: %w", err)
		}
		s.log.WarnContext(ctx, "recording the configured application event endpoints; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if s.cfg.AppEvents.Disabled {
		<-ctx.Done()
		return ctx.Err()
	}
	s.deliverer.Run(ctx)
	return ctx.Err()
}

// kickDeliverer tells this replica's deliverer that a delivery is due now.
func (s *Service) kickDeliverer() {
	if s.deliverer != nil {
		s.deliverer.Kick()
	}
}

// transition is TransitionUpload with what follows a change on this replica: the requests
// waiting for the upload wake up, and the deliverer sends the event the transition wrote.
func (s *Service) transition(ctx context.Context, id string, from []UploadState, to UploadState, c Change) (*Upload, error) {
	u, err := s.store.TransitionUpload(ctx, id, from, to, c)
	if err != nil {
		return u, err
	}
	s.waiting.wake(id)
	if !to.Active() {
		s.kickDeliverer()
	}
	return u, nil
}

// pruneAppEvents removes finished deliveries past the retention.
func (s *Service) pruneAppEvents(ctx context.Context) {
	retention := s.cfg.AppEvents.Retention
	if retention <= 0 {
		retention = DefaultAppEventRetention
	}
	n, err := s.store.PruneDeliveries(ctx, s.now().Add(-retention))
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		s.log.ErrorContext(ctx, "pruning application event deliveries failed", "err", err)
	case n > 0:
		s.log.InfoContext(ctx, "pruned finished application event deliveries", "deliveries", n)
	}
}

// resolver is the resolver of endpoint host names: the configured one, or nil for the
// system's.
func (s *Service) resolver() egress.Resolver {
	if r := s.cfg.AppEvents.Resolver; r != nil {
		return r
	}
	return nil
}
