package control

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus series, all prefixed presign_control_.
type metrics struct {
	requests    *prometheus.CounterVec   // route, code
	latency     *prometheus.HistogramVec // route
	tickets     *prometheus.CounterVec   // kind: put, form, multipart
	partURLs    prometheus.Counter
	downloads   prometheus.Counter
	refusals    *prometheus.CounterVec // rule
	completions *prometheus.CounterVec // source, state
	events      *prometheus.CounterVec // result
	claims      prometheus.Counter
	revocations prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presign_control_requests_total",
			Help: "API requests answered, by route pattern and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "presign_control_request_seconds",
			Help:    "Time to answer an API request, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"}),
		tickets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presign_control_tickets_total",
			Help: "Upload tickets issued, by kind (put, form, multipart)."}, []string{"kind"}),
		partURLs: prometheus.NewCounter(prometheus.CounterOpts{Name: "presign_control_part_urls_total",
			Help: "Part URLs of multipart uploads signed."}),
		downloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "presign_control_download_urls_total",
			Help: "Download URLs signed."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presign_control_refusals_total",
			Help: "Requests refused by a policy or limit, by the rule that refused."}, []string{"rule"}),
		completions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presign_control_upload_endings_total",
			Help: "Uploads that ended, by where the service learned it (event, client, reconciler) and the state they ended in."},
			[]string{"source", "state"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presign_control_storage_events_total",
			Help: "Webhook deliveries from the storage node, by result (applied, duplicate, forged, stale, malformed, failed)."},
			[]string{"result"}),
		claims: prometheus.NewCounter(prometheus.CounterOpts{Name: "presign_control_reconciler_claims_total",
			Help: "Overdue uploads this replica's reconciler leased (each is leased to one replica at a time)."}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{Name: "presign_control_revocations_total",
			Help: "Revocations of presigned URLs (one upload's, or all of a user's) recorded by the storage."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.tickets, m.partURLs, m.downloads, m.refusals, m.completions, m.events, m.claims, m.revocations} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("control: metrics: %w", err)
		}
	}
	return m, nil
}
