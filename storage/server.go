package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"presign/extension"
	"presign/internal/clientlimit"
	"presign/sigv2"
	"presign/sigv4"
)

// Config configures a storage node's HTTP face.
type Config struct {
	// Backend keeps the objects. Required.
	Backend Backend
	// Credentials are the access keys that may sign requests. Required.
	Credentials sigv4.CredentialStore
	// Region requests must be signed for; "us-east-1" when empty.
	Region string
	// Domain, when set, enables virtual-host addressing: a request to <bucket>.<Domain> names
	// the bucket in its host. Path-style addressing always works.
	Domain string
	// Nonces remembers consumed X-Presign-Once nonces. When nil, once-URLs are refused, since
	// their promise could not be kept.
	Nonces NonceStore
	// Revocations, when set, refuses URLs whose X-Presign-Id or X-Presign-User was revoked,
	// and keeps what RevokeHandler records.
	Revocations RevocationStore
	// MaxPutSize bounds a single PUT (default 5 GiB, as S3).
	MaxPutSize int64
	// BodyIdleTimeout ends an upload whose client sends nothing for this long (default 1 min).
	BodyIdleTimeout time.Duration
	// SmallBodyTimeout bounds the whole of a body that is small by nature, a POST form's
	// fields before its file (default 20 s): a steady trickle does not extend it.
	SmallBodyTimeout time.Duration
	// MinRate is the slowest, in bytes per second over each RateWindow, that a request body or
	// an object download may move; slower clients are cut off (RequestTimeout), so that none
	// holds a connection and an open file indefinitely. 0 means DefaultMinRate; negative, no
	// minimum.
	MinRate int64
	// RateWindow is the span MinRate is measured over (default 30 s).
	RateWindow time.Duration
	// Events, when set, receives an event for every object created or removed, durably before
	// the client's answer.
	Events EventLog
	// DefaultCORS are the CORS rules of buckets without a configuration of their own (and of
	// requests naming no bucket); nil allows no cross-origin request there.
	DefaultCORS []CORSRule
	// NoSigV2 refuses Signature Version 2 (headers, presigned URLs, POST forms) with S3's
	// answer for regions without it. By default it is accepted, for the S3 tools whose
	// presigned URLs are SigV2 (docs/auth.md).
	NoSigV2 bool
	// PrivateBuckets never take a bucket policy, and any policy they have is ignored: the
	// control plane's, whose files belong to its users.
	PrivateBuckets []string
	// AccessLog logs one line per request at info level; without it, at debug level.
	AccessLog bool
	// Observer, when set, is told the operation and status of every request, for metrics.
	Observer RequestObserver
	// Logger receives one line per server-side failure, and the access log; nil discards.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Defaults of Config.
const (
	// DefaultMaxPutSize is S3's limit for one PUT.
	DefaultMaxPutSize = 5 << 30
	// DefaultSmallBodyTimeout bounds a POST form's fields.
	DefaultSmallBodyTimeout = 20 * time.Second
	// DefaultMinRate (bytes/s) over DefaultRateWindow: a mobile link at its worst still does
	// tens of KiB/s, while a client dripping bytes to hold a connection is cut after a minute
	// at most.
	DefaultMinRate    = 1 << 10
	DefaultRateWindow = 30 * time.Second
)

// Server is the S3-compatible HTTP face of a storage node. It authenticates every request with
// SigV4 (header or presigned), enforces the presign extensions, and maps the S3 REST API onto a
// Backend. It is safe for concurrent use.
type Server struct {
	cfg      Config
	verifier *sigv4.Verifier
	v2       *sigv2.Verifier
	log      *slog.Logger
	now      func() time.Time
	hostID   string
	idPrefix string
	seq      atomic.Uint64
	// hashBufs lends the buffers of parallel body hashing (newParallelBody).
	hashBufs hashBuffers
	// cors remembers buckets' CORS rules for a few seconds.
	cors bucketCache[[]CORSRule]
	// policies remembers buckets' policies (nil: none) for a few seconds.
	policies bucketCache[*bucketPolicy]
}

// Close releases what the server keeps beside its requests (the multi-buffer MD5 hasher of
// busy moments) once the requests that use it have ended. Call it after the HTTP server has
// stopped; a closed Server still serves, hashing with the plain MD5.
func (s *Server) Close() { s.hashBufs.Close() }

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.Credentials == nil {
		return nil, errors.New("storage: Config needs a Backend and Credentials")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MaxPutSize <= 0 {
		cfg.MaxPutSize = DefaultMaxPutSize
	}
	if cfg.BodyIdleTimeout <= 0 {
		cfg.BodyIdleTimeout = time.Minute
	}
	if cfg.SmallBodyTimeout <= 0 {
		cfg.SmallBodyTimeout = DefaultSmallBodyTimeout
	}
	if cfg.MinRate == 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.DefaultCORS != nil {
		if err := checkCORSRules(cfg.DefaultCORS); err != nil {
			return nil, fmt.Errorf("storage: DefaultCORS: %w", err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.verifier = &sigv4.Verifier{Region: cfg.Region, Credentials: cfg.Credentials, Keys: sigv4.NewKeyCache(1024)}
	s.v2 = &sigv2.Verifier{Credentials: cfg.Credentials}
	var b [8]byte
	rand.Read(b[:])
	s.idPrefix = strings.ToUpper(hex.EncodeToString(b[:4]))
	s.hostID = hex.EncodeToString(b[:])
	return s, nil
}

// request is what the router learned about one request.
type request struct {
	id     string
	bucket string
	key    string
	query  url.Values
	auth   *sigv4.Auth
	// nonce is the X-Presign-Once value consumed for this request; it is released when the
	// request fails before taking effect.
	nonce string
	// principal names who made a request authenticated otherwise than by SigV4 headers or
	// query (a POST form); empty for those.
	principal string

	// body is the request's body as the handlers read it, bounded by the node's rates; nil
	// for a request without one.
	body *clientlimit.Body

	// For the access log: the S3 operation, how the request was authenticated (authV4Header
	// ...) and by which access key, and the S3 code of its error.
	op, authKind, accessKey, errCode string
}

func (s *Server) newRequestID() string {
	return fmt.Sprintf("%s%012X", s.idPrefix, s.seq.Add(1))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{id: s.newRequestID()}
	if r.Body != nil && r.Body != http.NoBody {
		// The handlers get a copy of the request: net/http tells from the Body it handed out
		// whether a body was left unread (an upload refused from its headers) and then answers
		// at once and closes the connection. Given another Body, it would first read up to
		// 256 KiB of the refused body, so a client waiting for "100 Continue" would never get
		// the answer.
		req.body = clientlimit.NewBody(w, r.Body, clientlimit.BodyLimits{Idle: s.cfg.BodyIdleTimeout, MinRate: s.minRate()})
		r = r.WithContext(r.Context())
		r.Body = req.body
	}
	level, logged := s.accessLogLevel(r.Context())
	if logged || s.cfg.Observer != nil {
		s.serveRecorded(w, r, req, level, logged)
		return
	}
	s.serve(w, r, req)
}

// minRate is the node's minimum transfer rate of bodies and downloads.
func (s *Server) minRate() clientlimit.Rate {
	if s.cfg.MinRate < 0 {
		return clientlimit.Rate{}
	}
	return clientlimit.Rate{BytesPerSecond: s.cfg.MinRate, Window: s.cfg.RateWindow}
}

// serveRecorded answers a request, recording how it ended for the access log line (when
// logged) and for Config.Observer (when set).
func (s *Server) serveRecorded(w http.ResponseWriter, r *http.Request, req *request, level slog.Level, logged bool) {
	start := s.now()
	rec := &accessRecorder{ResponseWriter: w}
	var in *countingBody
	if logged && r.Body != nil && r.Body != http.NoBody {
		in = &countingBody{ReadCloser: r.Body}
		r.Body = in
	}
	defer func() {
		if logged {
			s.logAccess(r.Context(), level, r, req, rec, in, start)
		}
		if s.cfg.Observer != nil {
			s.cfg.Observer.ObserveRequest(req.op, rec.finalStatus())
		}
	}()
	s.serve(rec, r, req)
}

// serve answers one request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, req *request) {
	h := w.Header()
	h.Set("X-Amz-Request-Id", req.id)
	h.Set("X-Amz-Id-2", s.hostID)
	h.Set("Server", "presign")

	routeErr := s.route(r, req)
	// Preflights and POST forms carry no signature of the request: they are answered before
	// authentication.
	if r.Method == http.MethodOptions {
		req.op = "PreflightRequest"
		s.preflight(w, r, req)
		return
	}
	s.setCORSHeaders(w, r, req)
	if routeErr != nil {
		s.writeError(w, r, req, routeErr)
		return
	}
	if isPostObject(r, req) {
		req.op = "PostObject"
		s.postObject(w, r, req)
		return
	}
	o := s.operation(r, req)
	req.op = o.String()
	if err := s.authenticate(r, req); err != nil {
		s.writeError(w, r, req, err)
		return
	}
	if err := s.checkRevoked(r.Context(), req); err != nil {
		s.writeError(w, r, req, err)
		return
	}
	if err := s.serveOperation(o, w, r, req); err != nil {
		s.releaseNonce(r.Context(), req)
		s.writeError(w, r, req, err)
	}
}

// route finds the bucket and key of a request, by virtual host or by path, and checks them.
func (s *Server) route(r *http.Request, req *request) error {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if b, ok := s.virtualHostBucket(r.Host); ok {
		req.bucket, req.key = b, path
	} else {
		req.bucket, req.key, _ = strings.Cut(path, "/")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apiErr("InvalidArgument", http.StatusBadRequest, "The query string is not valid: %v", err)
	}
	req.query = q
	if req.bucket != "" && !validBucketName(req.bucket) {
		return errInvalidBucketName
	}
	if req.key != "" {
		return checkKey(req.key)
	}
	return nil
}

func (s *Server) virtualHostBucket(host string) (string, bool) {
	if s.cfg.Domain == "" {
		return "", false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	b, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(s.cfg.Domain))
	return b, ok && b != ""
}

func has(q url.Values, name string) bool {
	_, ok := q[name]
	return ok
}

// consumeNonce applies X-Presign-Once: the first use of a nonce succeeds and later ones are
// refused until the URL expires.
func (s *Server) consumeNonce(ctx context.Context, req *request) error {
	nonce, ok := req.auth.Query(extension.Once)
	if !ok {
		return nil
	}
	until := req.auth.Expiry()
	if until.IsZero() {
		until = req.auth.Date.Add(sigv4.DefaultMaxSkew)
	}
	return s.useNonce(ctx, req, nonce, until)
}

// useNonce records a single-use nonce for the request until the given time, refusing a nonce
// already used.
func (s *Server) useNonce(ctx context.Context, req *request, nonce string, until time.Time) error {
	if nonce == "" {
		return apiErr("InvalidArgument", http.StatusBadRequest, "%s must not be empty.", extension.Once)
	}
	if s.cfg.Nonces == nil {
		return apiErr("NotImplemented", http.StatusNotImplemented, "This node keeps no nonce store, so it cannot honour %s.", extension.Once)
	}
	first, err := s.cfg.Nonces.Consume(ctx, nonce, until)
	if err != nil {
		// Fail closed: without the store the node cannot know whether the nonce was used.
		return fmt.Errorf("consume nonce: %w: %w", ErrUnavailable, err)
	}
	if !first {
		return errUsedOnce
	}
	req.nonce = nonce
	return nil
}

// releaseNonce gives a once-URL back after its request failed without effect.
func (s *Server) releaseNonce(ctx context.Context, req *request) {
	if req.nonce == "" {
		return
	}
	if err := s.cfg.Nonces.Release(context.WithoutCancel(ctx), req.nonce); err != nil {
		s.log.Error("release nonce", "request_id", req.id, "err", err)
	}
	req.nonce = ""
}
