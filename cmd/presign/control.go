package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"presign/control"
	"presign/control/bucket"
	"presign/control/postgres"
	"presign/control/sqlite"
	"presign/internal/durable"
	"presign/sigv4"
	"presign/web"
)

// controlFlags are the control plane's settings, shared by "control" and "serve".
type controlFlags struct {
	addr, db, publicURL                           string
	sessionTTL, reconcileInterval, reconcileGrace time.Duration
	ticketRate                                    int
	multipartThreshold, partSize                  byteSize
	loginFailuresPerUser, loginFailuresPerAddress int
	loginFailuresPerUserAddress, sessionsPerUser  int
	trustedProxies                                prefixList
	// corsOrigins are the web origins whose pages may call the API (--cors-origin: control's
	// own flag; serve shares the storage node's).
	corsOrigins stringList
	appEvents   appEventFlags
	// provider is the object store signed for (--storage-provider and its settings).
	provider providerFlags
}

func (f *controlFlags) register(fs *flag.FlagSet) {
	f.multipartThreshold, f.partSize = control.DefaultMultipartThreshold, control.DefaultPartSize
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address of the control plane (JSON API)")
	fs.StringVar(&f.db, "db", "", "metadata store: a SQLite file path, or postgres://... (default: control.db in the data directory)")
	fs.StringVar(&f.publicURL, "public-storage-url", "", "the storage URL put in tickets, as clients reach it (scheme://host:port; default: the storage address)")
	fs.DurationVar(&f.sessionTTL, "session-ttl", control.DefaultSessionTTL, "lifetime of a login session")
	fs.IntVar(&f.ticketRate, "ticket-rate", control.DefaultTicketsPerMinute, "upload tickets a user may get per minute (0: no limit)")
	fs.IntVar(&f.loginFailuresPerUserAddress, "login-failures-per-user-address", 10, "failed logins per username from one client address in 15 minutes before logins for it from there are refused (-1: no limit)")
	fs.IntVar(&f.loginFailuresPerAddress, "login-failures-per-address", 50, "failed logins per client address (any username; IPv6: per /64) in 15 minutes before logins from it are refused (-1: no limit)")
	fs.IntVar(&f.loginFailuresPerUser, "login-failures-per-user", 100, "failed logins per username from all addresses in 15 minutes before logins for it are refused from every address the user has not logged in from in the last 15 to 30 days; keep it well above --login-failures-per-user-address (-1: no limit)")
	fs.IntVar(&f.sessionsPerUser, "sessions-per-user", 60, "sessions successful logins may open per user an hour (-1: no limit)")
	fs.DurationVar(&f.reconcileInterval, "reconcile-interval", control.DefaultReconcileInterval, "how often overdue uploads are checked")
	fs.DurationVar(&f.reconcileGrace, "reconcile-grace", control.DefaultReconcileGrace, "how long past its ticket's expiry an upload is left to finish (0: none)")
	fs.Var(&f.multipartThreshold, "multipart-threshold", "declared size from which uploads are multipart (default 100MiB)")
	fs.Var(&f.partSize, "part-size", "smallest part of a multipart upload, at least 5MiB (default 16MiB)")
	f.appEvents.register(fs)
	fs.Var(&f.trustedProxies, "trusted-proxies", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed for the client address (audit log, login throttling); default none: the TCP peer is the client")
}

// controlPlane is a running control plane's parts.
type controlPlane struct {
	svc     *control.Service
	store   control.Store
	objects control.Objects
	// storageURL is where tickets point: the web page may connect there.
	storageURL string
	// cors answers other origins' pages (application pages with upload tokens); nil: none.
	cors *control.CORS
	// delivering is closed when the application event deliverer has stopped and recorded
	// the outcomes of its last attempts; nil before start.
	delivering chan struct{}
}

// close waits for the deliverer to stop (its context ended with the process's), then closes
// the store it records into.
func (c *controlPlane) close() error {
	if c.delivering != nil {
		<-c.delivering
	}
	return c.store.Close()
}

// controlSetup is what the control plane is wired to.
type controlSetup struct {
	flags        controlFlags
	dataDir      string
	endpoint     string // the S3 API as the control plane reaches it
	bucket       string
	region       string
	virtualHost  bool // the bucket in the host name, not the path
	extensions   control.Extensions
	creds        sigv4.Credentials
	eventSecrets [][]byte
	// s3Client makes the S3 calls; nil for the bucket package's default.
	s3Client *http.Client
	// revokeNodes are further storage nodes that each need a revocation.
	revokeNodes []string
	// metricsToken guards /metrics ("" for loopback clients only).
	metricsToken string
	// bodyTimeout bounds a request body (--body-timeout).
	bodyTimeout time.Duration
}

// openControl opens the metadata store, makes sure the administrator exists and builds the
// service. It contacts no object store: the bucket is checked and created by ensureBucket.
func (m *Main) openControl(ctx context.Context, cs controlSetup, log *slog.Logger) (*controlPlane, error) {
	cors, err := control.NewCORS(cs.flags.corsOrigins)
	if err != nil {
		return nil, fmt.Errorf("--cors-origin: %w", err)
	}
	store, err := openStore(ctx, cs.flags.db, cs.dataDir)
	if err != nil {
		return nil, err
	}
	public := cs.flags.publicURL
	if public == "" {
		public = cs.endpoint
	}
	storageURL := ticketBase(public, cs.bucket, cs.virtualHost)
	var objects control.Objects
	if cs.flags.provider.cloud() {
		objects, cs.bucket, storageURL, err = m.cloudObjects(ctx, cs.flags.provider)
		public = ""
	} else {
		objects, err = bucket.New(bucket.Config{Endpoint: cs.endpoint, Bucket: cs.bucket, Region: cs.region,
			AccessKeyID: cs.creds.AccessKeyID, SecretAccessKey: cs.creds.SecretAccessKey,
			VirtualHostStyle: cs.virtualHost, HTTPClient: cs.s3Client, RevokeEndpoints: cs.revokeNodes})
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	rate := cs.flags.ticketRate
	if rate == 0 {
		rate = -1
	}
	appEvents, err := cs.flags.appEvents.config(m.Getenv("PRESIGN_APP_EVENT_SECRET"))
	if err != nil {
		store.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	cfg := control.Config{
		Store: store, Objects: objects, Bucket: cs.bucket, PublicStorageURL: public,
		Credentials: cs.creds, Region: cs.region, EventSecrets: cs.eventSecrets,
		VirtualHostStyle: cs.virtualHost, Extensions: cs.extensions, TrustedProxies: cs.flags.trustedProxies,
		SessionTTL: cs.flags.sessionTTL, TicketsPerMinute: rate,
		LoginFailuresPerUser: cs.flags.loginFailuresPerUser, LoginFailuresPerAddress: cs.flags.loginFailuresPerAddress,
		LoginFailuresPerUserAddress: cs.flags.loginFailuresPerUserAddress, SessionsPerUser: cs.flags.sessionsPerUser,
		MultipartThreshold: int64(cs.flags.multipartThreshold), PartSize: int64(cs.flags.partSize),
		ReconcileInterval: cs.flags.reconcileInterval, ReconcileGrace: cs.flags.reconcileGrace,
		AppEvents: appEvents, MetricsToken: cs.metricsToken, Logger: log,
	}
	if cfg.ReconcileGrace == 0 {
		cfg.ReconcileGrace = -1
	}
	cfg.BodyTimeout = cs.bodyTimeout
	if m.registry != nil {
		cfg.Registerer = m.registry
	}
	svc, err := control.New(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	if err := m.ensureAdmin(ctx, svc); err != nil {
		store.Close()
		return nil, err
	}
	return &controlPlane{svc: svc, store: store, objects: objects, storageURL: storageURL, cors: cors}, nil
}

// openStore opens the metadata store the --db flag names.
func openStore(ctx context.Context, db, dataDir string) (control.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		s, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("metadata store: %w", err)
		}
		return s, nil
	}
	if db == "" {
		if err := durable.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		db = filepath.Join(dataDir, "control.db")
	}
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	return s, nil
}

// ensureAdmin creates the administrator on first start, with PRESIGN_ADMIN_PASSWORD or a
// generated password printed once on stdout.
func (m *Main) ensureAdmin(ctx context.Context, svc *control.Service) error {
	pw := m.Getenv("PRESIGN_ADMIN_PASSWORD")
	generated := pw == ""
	if generated {
		pw = rand.Text()
	}
	created, err := svc.EnsureAdmin(ctx, pw)
	if err != nil {
		return err
	}
	if created && generated {
		fmt.Fprintf(m.Stdout, "Created the administrator (shown only now):\n  username: %s\n  password: %s\n", control.AdminUsername, pw)
	}
	return nil
}

// start serves nothing itself: it starts the reconciler and the bucket check, and returns the
// HTTP service of the API.
func (c *controlPlane) start(ctx context.Context, m *Main, addr string, log *slog.Logger) service {
	go func() {
		if err := c.svc.RunReconciler(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("reconciler stopped", "err", err)
		}
	}()
	c.delivering = make(chan struct{})
	go func() {
		defer close(c.delivering)
		if err := c.svc.RunDeliverer(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("application event deliverer stopped", "err", err)
		}
	}()
	if b, ok := c.objects.(*bucket.Bucket); ok {
		go ensureBucket(ctx, b, log) // a cloud provider's container or bucket must exist already
	}
	var metrics http.Handler
	if m.registry != nil {
		metrics = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	}
	return service{name: "control plane", addr: addr, handler: c.cors.Wrap(web.Mount(c.svc.Handler(metrics), c.storageURL))}
}

// ensureBucket creates the bucket when missing, retrying while the object store is unreachable
// (it may be starting, or be this very process); /readyz reports not ready until it exists.
func ensureBucket(ctx context.Context, b *bucket.Bucket, log *slog.Logger) {
	wait := 50 * time.Millisecond
	for {
		err := b.Ensure(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if wait >= 5*time.Second {
			log.Warn("the bucket is not available yet; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (m *Main) control(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var cf controlFlags
	cf.register(fs)
	var endpoint, bucketName, region, dataDir, secret string
	var pathStyle bool
	var revokeNodes stringList
	fs.Var(&cf.corsOrigins, "cors-origin", "web origin whose pages may call the API (an application's page uploading with an upload token), e.g. https://app.example.com; '*' or one '*' in a pattern allowed (repeatable; no credentials mode)")
	ext := extensionsFlag(control.ExtensionsAuto)
	var srv serverFlags
	fs.StringVar(&endpoint, "s3-endpoint", "", "the S3 API of the storage (required), e.g. http://127.0.0.1:9000")
	fs.StringVar(&bucketName, "s3-bucket", "", "the bucket the files go to (required; created when missing)")
	fs.StringVar(&region, "s3-region", "us-east-1", "the region requests and URLs are signed for")
	fs.BoolVar(&pathStyle, "s3-path-style", false, "address the bucket in the URL path (host/bucket/key) instead of the host name (bucket.host/key); always so for an endpoint that is an IP address or localhost")
	fs.Var(&ext, "s3-extensions", "whether the storage enforces presign's URL extensions (single use, size cap): on (a presign storage node), off (any other S3: signed Content-Length and If-None-Match instead), or auto (ask the endpoint once)")
	fs.Var(&revokeNodes, "revoke-node", "another presign storage node that must hear of each URL revocation (repeatable); needed for nodes that share no --redis, the --s3-endpoint node always hears of it")
	srv.register(fs)
	cf.provider.register(fs, "the --s3-endpoint API")
	fs.StringVar(&dataDir, "data", "./presign-data", "directory of the SQLite metadata store (when --db is not set)")
	fs.StringVar(&secret, "notify-secret", "", "HMAC secret of the storage node's webhook deliveries (default $PRESIGN_NOTIFY_SECRET; none: storage events are refused)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: presign control --s3-endpoint URL --s3-bucket NAME [flags]\n\nRuns the control plane alone against an S3-compatible storage.\nStorage keys come from PRESIGN_ACCESS_KEY / PRESIGN_SECRET_KEY; the admin password from PRESIGN_ADMIN_PASSWORD on first start.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cf.provider.check(); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if !cf.provider.cloud() && (endpoint == "" || bucketName == "") {
		fs.Usage()
		return &exitError{code: 2, msg: "--s3-endpoint and --s3-bucket are required"}
	}
	ak, sk := m.Getenv("PRESIGN_ACCESS_KEY"), m.Getenv("PRESIGN_SECRET_KEY")
	if !cf.provider.cloud() && (ak == "" || sk == "") {
		return &exitError{code: 2, msg: "set PRESIGN_ACCESS_KEY and PRESIGN_SECRET_KEY to the storage's keys"}
	}
	virtualHost := false
	if !cf.provider.cloud() {
		var err error
		if virtualHost, err = virtualHostStyle(endpoint, cf.publicURL, pathStyle); err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
	}
	st, err := srv.tls.load()
	if err != nil {
		return err
	}
	if secret == "" {
		secret = m.Getenv("PRESIGN_NOTIFY_SECRET")
	}
	var secrets [][]byte
	if secret != "" {
		secrets = [][]byte{[]byte(secret)}
	}
	log := m.logger()
	cp, err := m.openControl(ctx, controlSetup{flags: cf, dataDir: dataDir, endpoint: endpoint, bucket: bucketName,
		region: region, virtualHost: virtualHost, extensions: control.Extensions(ext),
		creds: sigv4.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, eventSecrets: secrets, revokeNodes: revokeNodes,
		metricsToken: srv.token(m), bodyTimeout: srv.bodyTimeout}, log)
	if err != nil {
		return err
	}
	defer cp.close()
	svc := cp.start(ctx, m, cf.addr, log)
	svc.tls = st.tlsConfig()
	return serveHTTP(ctx, log, srv, svc)
}

// webhookSecretFile keeps the secret that signs the storage node's deliveries to the control
// plane inside "presign serve".
const webhookSecretFile = "webhook-secret"

// webhookSecret returns the secret in DIR/webhook-secret, creating it (mode 0600) on first use.
// It never leaves the data directory: both planes of the process read it from there.
func webhookSecret(dir string) (string, error) {
	path := filepath.Join(dir, webhookSecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 16 {
			return "", fmt.Errorf("%s is damaged (shorter than 16 characters); remove it to generate a new one", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read webhook secret: %w", err)
	}
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	s := rand.Text() + rand.Text()
	if err := writeFileAtomic(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write webhook secret: %w", err)
	}
	return s, nil
}
