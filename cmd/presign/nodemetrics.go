package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"presign/storage"
)

// requestCounter counts the storage node's requests by S3 operation and status, as the node
// reports them (storage.RequestObserver): the storage package has no metrics library of its
// own. Both labels come from small fixed sets, never from a bucket or a key.
type requestCounter struct{ total *prometheus.CounterVec }

// newRequestCounter registers the counter in reg; without a registry there is nothing to count.
func newRequestCounter(reg *prometheus.Registry) storage.RequestObserver {
	if reg == nil {
		return nil
	}
	c := requestCounter{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presign_storage_requests_total",
		Help: "S3 requests the storage node answered, by S3 operation (op, \"None\" when the request named none) and status (code; 499 when the client went away before the answer).",
	}, []string{"op", "code"})}
	reg.MustRegister(c.total)
	return c
}

// ObserveRequest implements storage.RequestObserver.
func (c requestCounter) ObserveRequest(op string, status int) {
	if op == "" {
		op = "None"
	}
	c.total.WithLabelValues(op, strconv.Itoa(status)).Inc()
}
