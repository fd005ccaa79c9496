package storage

import (
	"net/http"

	"presign/internal/metricsauth"
)

// MetricsHandler serves h, the node's Prometheus metrics, only to the requests metricsauth
// admits with the token ("" for none: clients on the same machine only); others get an S3
// AccessDenied error.
func (s *Server) MetricsHandler(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if no := metricsauth.Check(r, token); no != nil {
			req := &request{id: s.newRequestID()}
			w.Header().Set("X-Amz-Request-Id", req.id)
			s.writeError(w, r, req, apiErr("AccessDenied", no.Status, "%s", no.Message))
			return
		}
		h.ServeHTTP(w, r)
	})
}
