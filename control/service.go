package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"presign/control/appevents"
	"presign/internal/egress"
	"presign/sigv4"
)

// Config configures a Service. Zero values take the defaults documented on each field.
type Config struct {
	// Store keeps every piece of state. Required.
	Store Store
	// Objects reaches the object store over its API. Required.
	Objects Objects
	// Bucket is the bucket every key lives in. Required.
	Bucket string
	// PublicStorageURL is the object store's base URL as clients reach it
	// (scheme://host[:port], path-style addressing); it is what tickets point at and what
	// their signatures cover. Required, except with an Objects that signs its own URLs
	// (URLSigner), which knows where its store is.
	PublicStorageURL string
	// Credentials sign the URLs handed out; the object store must accept them. Required,
	// except with an Objects that signs its own URLs (URLSigner).
	Credentials sigv4.Credentials
	// Region the object store verifies signatures for; "us-east-1" when empty.
	Region string
	// VirtualHostStyle puts the bucket in the host name of the URLs handed out
	// (scheme://<bucket>.<host>/<key>) instead of their path, as AWS S3 prefers.
	VirtualHostStyle bool
	// Extensions says whether the object store enforces presign's extensions
	// (ExtensionsOn, the default: presign's storage node), or only S3 (ExtensionsOff), or
	// is to be asked (ExtensionsAuto). It decides how a URL binds its upload to the ticket;
	// see Extensions.
	Extensions Extensions

	// EventSecrets verify the storage node's webhook deliveries (several while rotating).
	// When none is set, POST /v1/storage-events refuses everything and completion comes from
	// the client's complete call and the reconciler.
	EventSecrets [][]byte
	// EventTolerance is how old a delivery's signature may be (events.DefaultTolerance).
	EventTolerance time.Duration

	// SessionTTL is how long a login session lasts (12 h).
	SessionTTL time.Duration
	// TicketsPerMinute limits each user's ticket issuance (600); negative disables the limit.
	TicketsPerMinute int
	// Failed logins are bounded in each LoginWindow (15 min) per username from one address
	// (LoginFailuresPerUserAddress, 10), per address (LoginFailuresPerAddress, 50) and per
	// username from all addresses (LoginFailuresPerUser, 100); past a limit, those logins are
	// refused (429) until the window ends, before any password is checked. Negative turns a
	// limit off. See login.go.
	LoginFailuresPerUserAddress int
	LoginFailuresPerAddress     int
	LoginFailuresPerUser        int
	LoginWindow                 time.Duration
	// SessionsPerUser bounds the sessions successful logins open per user an hour (60);
	// negative turns it off.
	SessionsPerUser int
	// HashParallelism bounds concurrent argon2id computations (2), and HashQueue the password
	// checks waiting for or holding one (32); one address holds at most HashParallelism of
	// the queue.
	HashParallelism int
	HashQueue       int

	// MetricsToken, when set, is the bearer token GET /metrics needs; when empty, the metrics
	// are served only to clients on the same machine (see presign/internal/metricsauth).
	MetricsToken string

	// MultipartThreshold is the declared size from which a ticket is a multipart plan (100 MiB).
	MultipartThreshold int64
	// PartSize is the smallest part of a multipart plan (16 MiB); plans with more than 10,000
	// parts use larger parts.
	PartSize int64

	// ReconcileInterval is how often the reconciler looks for overdue uploads (30 s).
	ReconcileInterval time.Duration
	// ReconcileGrace is how long after its ticket's deadline an upload is left alone, for a
	// transfer that started just before the deadline to finish (1 min). Negative means none.
	ReconcileGrace time.Duration

	// BodyTimeout bounds the whole of a request body (DefaultBodyTimeout): every body of the
	// API is small (JSON, a storage event), so a client trickling one is cut off with 408
	// instead of holding its connection. It counts from the body's first read.
	BodyTimeout time.Duration

	// TrustedProxies are the addresses of reverse proxies whose X-Forwarded-For header is
	// believed: the client's address, which the audit log records and login throttling
	// counts, is then the nearest address in the header that is not a trusted proxy. None:
	// the TCP peer is the client.
	TrustedProxies []netip.Prefix

	// AppEvents configures the application events: the configured endpoints, their secret,
	// retries, and what endpoints users register may reach.
	AppEvents AppEventsConfig

	// Registerer receives the service's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives the service's logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultSessionTTL         = 12 * time.Hour
	DefaultTicketsPerMinute   = 600
	DefaultMultipartThreshold = 100 << 20
	DefaultPartSize           = 16 << 20
	DefaultReconcileInterval  = 30 * time.Second
	DefaultReconcileGrace     = time.Minute
	// MaxParts is S3's limit on the parts of one multipart upload.
	MaxParts = 10000
	// MaxObjectSize is S3's limit on one object.
	MaxObjectSize = 5 << 40
)

// Service is the control plane: it authenticates users, applies their policy, issues upload
// tickets and download URLs, and learns what became of each upload. It keeps no state of its
// own beyond its Store, so several Services (replicas) may share one database. It is safe for
// concurrent use.
type Service struct {
	cfg     Config
	store   Store
	objects Objects
	signer  *sigv4.Signer
	base    *url.URL // PublicStorageURL; nil with a URLSigner
	hasher  *hasher
	// hashing counts each address's password checks in flight (see login.go).
	hashing *inFlight
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
	// ext is the resolved Extensions: extUnknown until ExtensionsAuto has asked the store.
	ext atomic.Int32
	// dummyHash is verified against when a login names no user, so that the answer takes as
	// long as for a wrong password and does not reveal which usernames exist.
	dummyHash string

	// Application events: the deliverer, the egress policy of registered endpoints, the
	// configured endpoints, and the requests waiting for an upload to end.
	deliverer  *appevents.Deliverer
	egress     egress.Policy
	configured []Endpoint
	appMetrics *appEventMetrics
	waiting    waiters
}

// New returns a Service for cfg. It does not contact the store or the object store.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Objects == nil || cfg.Bucket == "" {
		return nil, errors.New("control: Config needs a Store, Objects and a Bucket")
	}
	_, ownSigner := cfg.Objects.(URLSigner)
	if !ownSigner && (cfg.Credentials.AccessKeyID == "" || cfg.Credentials.SecretAccessKey == "") {
		return nil, errors.New("control: Config needs the credentials that sign URLs")
	}
	if ownSigner {
		// A provider that signs its own URLs is not S3: the extensions mean nothing to it.
		cfg.Extensions = ExtensionsOff
	}
	var base *url.URL
	var err error
	if !ownSigner {
		base, err = url.Parse(strings.TrimSuffix(cfg.PublicStorageURL, "/"))
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
			base.Path != "" || base.RawQuery != "" || base.User != nil {
			return nil, fmt.Errorf("control: public storage URL %q must be http(s)://host[:port] with no path", cfg.PublicStorageURL)
		}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.TicketsPerMinute, DefaultTicketsPerMinute)
	setDefault(&cfg.LoginFailuresPerUserAddress, 10)
	setDefault(&cfg.LoginFailuresPerAddress, 50)
	setDefault(&cfg.LoginFailuresPerUser, 100)
	setDefault(&cfg.LoginWindow, 15*time.Minute)
	setDefault(&cfg.SessionsPerUser, 60)
	setDefault(&cfg.HashParallelism, 2)
	setDefault(&cfg.HashQueue, 32)
	setDefault(&cfg.MultipartThreshold, DefaultMultipartThreshold)
	setDefault(&cfg.PartSize, DefaultPartSize)
	setDefault(&cfg.ReconcileInterval, DefaultReconcileInterval)
	setDefault(&cfg.ReconcileGrace, DefaultReconcileGrace)
	if cfg.ReconcileGrace < 0 {
		cfg.ReconcileGrace = 0
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("control: part size %d is below S3's 5 MiB minimum", cfg.PartSize)
	}
	s := &Service{
		cfg:     cfg,
		store:   cfg.Store,
		objects: cfg.Objects,
		signer: &sigv4.Signer{Credentials: cfg.Credentials, Region: cfg.Region,
			Keys: sigv4.NewKeyCache(16)},
		base:    base,
		hasher:  newHasher(cfg.HashParallelism, cfg.HashQueue),
		hashing: newInFlight(cfg.HashParallelism),
		log:     cfg.Logger,
		now:     cfg.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch cfg.Extensions {
	case ExtensionsOn, ExtensionsOff:
		s.ext.Store(int32(cfg.Extensions))
	case ExtensionsAuto:
		s.ext.Store(extUnknown)
	default:
		return nil, fmt.Errorf("control: unknown Extensions %d", cfg.Extensions)
	}
	if s.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if s.dummyHash, err = s.hasher.hash(context.Background(), newSecret("")); err != nil {
		return nil, err
	}
	if err := s.newDeliverer(); err != nil {
		return nil, err
	}
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Ready reports whether the service can do its job: the store answers, and the object store
// answers and has the bucket.
func (s *Service) Ready(ctx context.Context) error {
	if _, err := s.store.DefaultPolicy(ctx); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("metadata store: %w", err)
	}
	if err := s.objects.Ready(ctx); err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	if _, err := s.extensions(ctx); err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	return nil
}

// audit appends an entry to the audit log. A ticket or URL is handed out only after its entry
// is durable, so the log never misses a URL that was given; state changes carry theirs in the
// transition (Change.Audit); other entries are best effort and their failure is logged.
func (s *Service) audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		// A full or unreachable database is the caller's to answer (writeError logs it once,
		// as a warning: it is the database's state, not a fault here).
		if !errors.Is(err, ErrStoreFull) && !errors.Is(err, ErrStoreUnavailable) {
			s.log.ErrorContext(ctx, "audit log append failed", "action", e.Action, "err", err)
		}
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
