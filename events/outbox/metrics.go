package outbox

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// registration registers collectors and takes them back on close. A nil Registerer makes it a
// no-op, while the collectors still count (tests and callers may read them).
type registration struct {
	reg  prometheus.Registerer
	done []prometheus.Collector
}

func (r *registration) register(cs ...prometheus.Collector) error {
	if r.reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := r.reg.Register(c); err != nil {
			r.unregister()
			return fmt.Errorf("outbox: register metrics: %w", err)
		}
		r.done = append(r.done, c)
	}
	return nil
}

func (r *registration) unregister() {
	for _, c := range r.done {
		r.reg.Unregister(c)
	}
	r.done = nil
}

type logMetrics struct {
	registration
	appended prometheus.Counter
}

func newLogMetrics(l *Log, reg prometheus.Registerer) (*logMetrics, error) {
	m := &logMetrics{
		registration: registration{reg: reg},
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presign_outbox_appended_total",
			Help: "Events appended to the outbox.",
		}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "presign_outbox_depth",
		Help: "Events in the outbox that not every webhook target has acknowledged yet.",
	}, func() float64 { return float64(l.Len()) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "presign_outbox_oldest_age_seconds",
		Help: "Age of the outbox entry with the lowest sequencer; 0 when the outbox is empty.",
	}, func() float64 {
		if at, ok := l.oldest(); ok {
			return time.Since(at).Seconds()
		}
		return 0
	})
	commits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "presign_outbox_commits_total",
		Help: "Outbox transactions committed (each one fsync), shared by concurrent appends and acknowledgements.",
	}, func() float64 { return float64(l.commits.Load()) })
	if err := m.register(m.appended, depth, age, commits); err != nil {
		return nil, err
	}
	return m, nil
}

type deliveryMetrics struct {
	registration
	attempts  *prometheus.CounterVec
	failures  *prometheus.CounterVec
	delivered *prometheus.CounterVec
	up        *prometheus.GaugeVec
}

func newDeliveryMetrics(reg prometheus.Registerer) (*deliveryMetrics, error) {
	m := &deliveryMetrics{
		registration: registration{reg: reg},
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presign_outbox_delivery_attempts_total",
			Help: "Webhook delivery attempts, by target.",
		}, []string{"target"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presign_outbox_delivery_failures_total",
			Help: "Webhook delivery attempts that got no 2xx answer, by target and reason (transport, 3xx, 4xx, 5xx).",
		}, []string{"target", "reason"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presign_outbox_delivered_total",
			Help: "Events acknowledged with 2xx, by target.",
		}, []string{"target"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "presign_outbox_target_up",
			Help: "1 while the target's last delivery attempt succeeded, 0 while it is failing.",
		}, []string{"target"}),
	}
	if err := m.register(m.attempts, m.failures, m.delivered, m.up); err != nil {
		return nil, err
	}
	return m, nil
}

// failureReason is the reason label of a failed attempt.
func failureReason(status int) string {
	switch {
	case status == 0:
		return "transport"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}
