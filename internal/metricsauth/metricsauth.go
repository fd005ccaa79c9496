// Package metricsauth decides who may read a server's Prometheus metrics. The metrics name
// users' activity, buckets and error rates, so they are not for anyone who can reach the port:
// with a token configured, only a request bearing it reads them; without one, only a client
// on the same machine that did not come through a proxy. Both planes call Check, so they
// agree.
package metricsauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Refusal says why a request may not read the metrics: Status is 401 (a token is configured
// and the request lacks it) or 403 (no token is configured and the request is not local).
type Refusal struct {
	Status  int
	Message string
}

// Check returns nil when r may read the metrics, given the configured token ("" for none).
//
// Without a token, a request is local when its TCP peer is a loopback address and it carries
// no Forwarded or X-Forwarded-For header: a reverse proxy on the same machine makes every
// request look local, and its forwarding headers are what give it away.
func Check(r *http.Request, token string) *Refusal {
	if token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Compared as hashes so that the comparison takes the same time whatever the lengths.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return &Refusal{Status: http.StatusUnauthorized, Message: "the metrics need the metrics token: Authorization: Bearer <token>"}
		}
		return nil
	}
	if r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" || !loopback(r.RemoteAddr) {
		return &Refusal{Status: http.StatusForbidden, Message: "the metrics are served only to clients on this machine unless a metrics token is configured (PRESIGN_METRICS_TOKEN)"}
	}
	return nil
}

// loopback reports whether the host:port addr is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
