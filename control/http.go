package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"presign/internal/clientlimit"
)

// route is one operation of the API. The router, the OpenAPI document and the test that keeps
// them in step all start from the list in routes.
type route struct {
	method  string
	pattern string // http.ServeMux pattern path, e.g. /v1/uploads/{id}
	access  access
	h       func(w http.ResponseWriter, r *http.Request, p *Principal) error
}

// access says who may call a route.
type access int

const (
	// public routes need no bearer token (login, the webhook with its own signature, probes).
	public access = iota
	// user routes get the caller's Principal.
	user
	// admin routes are refused (403) to non-administrators before their body is read.
	admin
	// uploader routes are user routes that an upload token may call too: it may only upload.
	// (user and admin routes refuse upload tokens with 403.)
	uploader
	// uploadPath routes take an upload token from their {token} path segment instead of a
	// header (Uppy's Companion routes); nothing else is accepted there.
	uploadPath
)

// maxJSONBody bounds a request's JSON body; maxEventBody a webhook delivery.
const (
	maxJSONBody  = 64 << 10
	maxEventBody = 1 << 20
)

// Handler returns the HTTP API: /v1 (JSON), /openapi.json, /healthz, /readyz, and /metrics
// served by metricsHandler (nil answers 404). Every /v1 answer is marked Cache-Control:
// no-store, since it may carry a token or a signed URL.
func (s *Service) Handler(metricsHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes(metricsHandler) {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	mux.Handle("/", s.wrap(route{access: public, h: func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		return notFoundErr("route " + r.Method + " " + r.URL.Path)
	}}))
	return s.limitBodies(mux)
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap authenticates (unless the route is public), runs the handler, writes its error as JSON,
// and records the request's metrics under its route pattern.
func (s *Service) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			sw.Header().Set("Cache-Control", "no-store")
		}
		err := s.serve(sw, r, rt)
		if err != nil {
			s.writeError(sw, r, err)
		}
		label := r.Pattern
		if rt.pattern == "" {
			label = "unmatched"
		}
		s.metrics.requests.WithLabelValues(label, strconv.Itoa(sw.status)).Inc()
		s.metrics.latency.WithLabelValues(label).Observe(time.Since(start).Seconds())
	})
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, rt route) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	var p *Principal
	if rt.access != public {
		secret, ok := bearer(r)
		if rt.access == uploadPath {
			// Only an upload token may travel in a URL: a session or API key there would be
			// refused even if valid, so that none is ever accepted from a log line.
			secret = r.PathValue("token")
			ok = strings.HasPrefix(secret, uploadTokenPrefix)
		}
		if !ok {
			return errUnauthenticated
		}
		if p, err = s.Authenticate(r.Context(), secret); err != nil {
			return err
		}
		if p.UploadToken != nil && rt.access != uploader && rt.access != uploadPath {
			return errUploadOnly
		}
		if rt.access == admin && !p.User.Admin {
			return errForbidden
		}
	}
	return rt.h(w, r, p)
}

// bearer returns the token of "Authorization: Bearer <token>".
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// storeRetryAfter is the Retry-After of a 503 for an unreachable database: long enough that
// clients do not hammer a database coming back from a restart, short enough that they notice
// it is back within a few seconds.
const storeRetryAfter = 5 * time.Second

// writeError answers err: an *Error as itself, an unreachable metadata store as 503, a full
// object store or metadata store as 507, any other storage failure as 502, anything else as 500
// (logged; the client learns nothing of the cause).
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := asError(err)
	if !ok {
		var se *StorageError
		switch {
		case errors.Is(err, ErrObjectStoreFull):
			s.log.WarnContext(r.Context(), "object store full", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(http.StatusInsufficientStorage, CodeStoreFull, "the object store has no space left; try again later")
		case errors.As(err, &se):
			s.log.WarnContext(r.Context(), "object store failure", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(http.StatusBadGateway, CodeStorageUnavailable, "the object store failed to answer; try again")
		case errors.Is(err, ErrStoreUnavailable):
			s.log.WarnContext(r.Context(), "metadata store unavailable", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(http.StatusServiceUnavailable, CodeUnavailable, "the control plane cannot reach its database; try again")
			e.RetryAfter = storeRetryAfter
		case errors.Is(err, ErrStoreFull):
			s.log.WarnContext(r.Context(), "metadata store full", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(http.StatusInsufficientStorage, CodeStoreFull, "the control plane's database has no space left; nothing was changed; try again later")
		case errors.Is(err, context.Canceled), errors.Is(err, clientlimit.ErrAborted):
			// The client went away: its doing, worth a debug line and nginx's 499 in the
			// metrics, never an error.
			s.log.DebugContext(r.Context(), "client went away", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(statusClientClosed, CodeInternal, "request cancelled")
		case errors.Is(err, clientlimit.ErrTimeout):
			s.log.DebugContext(r.Context(), "client too slow", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(http.StatusRequestTimeout, CodeRequestTimeout, "the request body took too long to arrive")
		default:
			s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", loggedPath(r), "err", err)
			e = errorf(http.StatusInternalServerError, CodeInternal, "internal error")
		}
	}
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if e.Status == http.StatusUnauthorized && e.Code == CodeUnauthenticated {
		h.Set("WWW-Authenticate", `Bearer realm="presign"`)
	}
	writeJSON(w, e.Status, struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{e.Code, e.Message})
}

// loggedPath is the request's path as logs may show it: an upload token in the path (Uppy's
// Companion routes) is replaced by its route's placeholder.
func loggedPath(r *http.Request) string {
	if tok := r.PathValue("token"); tok != "" {
		return strings.Replace(r.URL.Path, tok, "{token}", 1)
	}
	return r.URL.Path
}

// writeJSON answers v as JSON. URLs are written as they are: '&' is not escaped for HTML.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// decode reads a JSON object body into v. Unknown fields are refused, so a misspelt field is
// an error rather than silently ignored. An empty body leaves v as it is when optional.
func decode(r *http.Request, v any, optional bool) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return invalid("a JSON object body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("request body: %v", err)
	}
	if dec.More() {
		return invalid("request body: one JSON object expected")
	}
	return nil
}

// readBody reads a request's JSON body, at most maxJSONBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, invalid("the request body is larger than %d bytes", maxJSONBody)
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	return body, nil
}

// clientAddr is the client's IP address, as the audit log and login throttling key it: the
// TCP peer, or, when the peer is one of the TrustedProxies, the nearest address of
// X-Forwarded-For that is not. Each proxy appends the address it received the request from, so
// only the entries to the right of the first untrusted one were written by proxies we trust;
// anything further left is the client's to invent. A malformed entry on that path ends the
// walk at the proxy that wrote it.
func (s *Service) clientAddr(r *http.Request) string {
	peer := remoteAddr(r)
	if len(s.cfg.TrustedProxies) == 0 {
		return peer
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil || !s.trustedProxy(ip) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := ip
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !s.trustedProxy(client) {
			break
		}
	}
	return client.String()
}

func (s *Service) trustedProxy(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// remoteAddr is the TCP peer's IP address.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// pageParams reads ?after= and ?limit= (default 100, 1..1000).
func pageParams(r *http.Request) (string, int, error) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			return "", 0, invalid("limit must be 1 to %d", MaxPage)
		}
		limit = n
	}
	return r.URL.Query().Get("after"), limit, nil
}
