package control

import (
	"net/http"
	"time"

	"presign/internal/clientlimit"
)

// DefaultBodyTimeout is Config.BodyTimeout's default: ample for the largest body the API takes
// (a 1 MiB storage event) on a slow link.
const DefaultBodyTimeout = 20 * time.Second

// statusClientClosed is the status the metrics count for a request whose client went away
// before its answer: nginx's 499, never sent, as nobody is there to read it.
const statusClientClosed = 499

// limitBodies gives every request body a total deadline, so that anyone (the API's public
// routes read bodies before any authentication) trickling a body is cut off instead of
// holding a connection for as long as it likes.
func (s *Service) limitBodies(next http.Handler) http.Handler {
	total := s.cfg.BodyTimeout
	if total <= 0 {
		total = DefaultBodyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		// A copy of the request takes the bounded body: net/http judges from the Body it
		// handed out whether one was left unread after the handler.
		rb := r.WithContext(r.Context())
		rb.Body = clientlimit.NewBody(w, r.Body, clientlimit.BodyLimits{Total: total})
		next.ServeHTTP(w, rb)
	})
}
