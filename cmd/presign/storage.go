package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"presign/internal/clientlimit"
	"presign/internal/tcpcc"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// storageFlags are the storage node's settings, shared by "storage" and "serve".
type storageFlags struct {
	data, addr, region, domain string
	tcpCongestion              string
	maxPutSize                 byteSize
	notify                     notifyFlags
	corsOrigins                stringList
	multipartExpiry            time.Duration
	backend                    backendFlags
	sigV2, accessLog           bool
	privateBuckets             stringList
	minRate                    byteSize
	rateWindow                 time.Duration
	// bodyTimeout comes from serverFlags.
	bodyTimeout time.Duration
}

func (f *storageFlags) register(fs *flag.FlagSet, addrFlag string) {
	f.maxPutSize = storage.DefaultMaxPutSize
	fs.StringVar(&f.data, "data", "./presign-data", "directory of the node's objects and index")
	fs.StringVar(&f.addr, addrFlag, "127.0.0.1:9000", "listen address of the storage node (S3 API)")
	fs.StringVar(&f.region, "region", "us-east-1", "the region requests must be signed for")
	fs.StringVar(&f.domain, "domain", "", "base domain for virtual-host addressing (<bucket>.<domain>); path style always works")
	fs.Var(&f.maxPutSize, "max-put-size", "largest single PUT (e.g. 5GiB)")
	fs.StringVar(&f.tcpCongestion, "tcp-congestion", tcpcc.Auto, "TCP congestion control of the node's client connections (Linux): auto (reno when listening on a loopback address, where pacing only costs CPU; else the host's), host (the host's default), or an algorithm such as reno, bbr; see docs/gateway.md")
	fs.DurationVar(&f.multipartExpiry, "multipart-expiry", disk.DefaultMultipartExpiry, "multipart uploads left incomplete this long are aborted and their parts removed")
	f.notify.register(fs)
	f.backend.register(fs)
	fs.BoolVar(&f.sigV2, "sigv2", true, "accept AWS Signature Version 2 (the default presigned URLs of boto3, the aws CLI v1, s3cmd and s3fs); false answers it as S3 does where it never existed; see docs/auth.md")
	fs.BoolVar(&f.accessLog, "access-log", false, "log one line per request (method, bucket, key, operation, status, S3 error code, bytes, duration, auth kind) at info level; without it, at debug level only")
	fs.Var(&f.privateBuckets, "private-bucket", "a bucket that never takes a bucket policy, such as the control plane's (repeatable; presign serve adds its own)")
	f.minRate = storage.DefaultMinRate
	fs.Var(&f.minRate, "min-rate", "slowest rate, in bytes per second over each --rate-window, at which an upload may arrive or a download be read; slower clients are cut off (0: no minimum)")
	fs.DurationVar(&f.rateWindow, "rate-window", storage.DefaultRateWindow, "the span --min-rate is measured over; a client that stops altogether is cut off after one to two windows")
	fs.Var(&f.corsOrigins, "cors-origin", "web origin allowed to upload and download from a browser in buckets without a CORS configuration of their own (serve: also to call the control plane's API), e.g. https://app.example.com; one '*' allowed (repeatable)")
}

func (m *Main) storage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("storage", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var sf storageFlags
	sf.register(fs, "addr")
	var srv serverFlags
	srv.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: presign storage [flags]\n\nRuns the storage node alone: an S3-compatible object service on local disk.\nRoot keys come from PRESIGN_ACCESS_KEY / PRESIGN_SECRET_KEY, or are generated on first start.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := srv.tls.load()
	if err != nil {
		return err
	}
	log := m.logger()
	// Bound first, as in serve: a taken port or a refused --tcp-congestion fails the start
	// before anything is written to --data.
	ln, err := listenTCP(ctx, sf.addr, sf.tcpCongestion)
	if err != nil {
		return fmt.Errorf("storage node: %w", err)
	}
	sf.bodyTimeout = srv.bodyTimeout
	node, err := m.openStorage(ctx, sf, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer node.close()
	svc := node.listener("storage node", sf.addr, m.registry, srv.token(m))
	svc.ln, svc.tls = ln, st.tlsConfig()
	return serveHTTP(ctx, log, srv, svc)
}

// listenTCP binds addr, with its sockets' congestion control chosen by congestion (see tcpcc.Control).
func listenTCP(ctx context.Context, addr, congestion string) (net.Listener, error) {
	return (&net.ListenConfig{Control: tcpcc.Control(congestion)}).Listen(ctx, "tcp", addr)
}

// storageNode is a running storage node's parts.
type storageNode struct {
	stores *nodeStores
	events *notifier
	server *storage.Server
	creds  sigv4.Credentials
}

func (n *storageNode) close() error {
	n.server.Close()
	return errors.Join(n.events.close(), n.stores.close())
}

func (m *Main) openStorage(ctx context.Context, sf storageFlags, log *slog.Logger) (*storageNode, error) {
	creds, err := m.rootCredentials(sf.data, m.Stdout)
	if err != nil {
		return nil, err
	}
	targets, err := sf.notify.targets(m.Getenv("PRESIGN_NOTIFY_SECRET"))
	if err != nil {
		return nil, err
	}
	stores, err := m.openStores(ctx, sf, log)
	if err != nil {
		return nil, err
	}
	ev, err := openNotifier(ctx, sf.data, targets, sf.notify.maxBackoff, sf.notify.lanes, sf.notify.client, m.registry, log)
	if err != nil {
		stores.close()
		return nil, err
	}
	var defaultCORS []storage.CORSRule
	if len(sf.corsOrigins) > 0 {
		defaultCORS = []storage.CORSRule{storage.BrowserCORSRule(sf.corsOrigins...)}
	}
	srv, err := storage.New(storage.Config{
		Backend:        stores.backend,
		Credentials:    sigv4.StaticCredentials{creds.AccessKeyID: creds.SecretAccessKey},
		Region:         sf.region,
		Domain:         sf.domain,
		Nonces:         stores.nonces,
		Revocations:    stores.revocations,
		MaxPutSize:     int64(sf.maxPutSize),
		Events:         ev.eventLog(),
		DefaultCORS:    defaultCORS,
		NoSigV2:        !sf.sigV2,
		AccessLog:      sf.accessLog,
		PrivateBuckets: sf.privateBuckets,
		Logger:         log,
		Observer:       newRequestCounter(m.registry),

		SmallBodyTimeout: sf.bodyTimeout,
		MinRate:          minRate(sf.minRate),
		RateWindow:       sf.rateWindow,
	})
	if err != nil {
		ev.close()
		stores.close()
		return nil, err
	}
	return &storageNode{stores: stores, events: ev, server: srv, creds: creds}, nil
}

// minRate is storage.Config.MinRate for --min-rate, where 0 means none.
func minRate(b byteSize) int64 {
	if b <= 0 {
		return -1
	}
	return int64(b)
}

// listener serves the S3 API, and under /_presign/ (a path no bucket can have, as bucket
// names have no '_') the node's health, Prometheus metrics (behind metricsToken, see
// storage.Server.MetricsHandler) and revocation call.
func (n *storageNode) listener(name, addr string, reg *prometheus.Registry, metricsToken string) service {
	metrics := n.server.MetricsHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), metricsToken)
	revoke := n.server.RevokeHandler()
	// Operators watch it during a drain; tests use it to know the node holds a request.
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "presign_storage_requests_in_flight",
		Help: "S3 requests the storage node is serving now.",
	})
	if reg != nil {
		reg.MustRegister(inFlight)
	}
	s3api := promhttp.InstrumentHandlerInFlight(inFlight, n.server)
	// Not an http.ServeMux: it cleans paths and would redirect object keys such as "a//b" or
	// "../x", which are ordinary keys to S3.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_presign/metrics":
			metrics.ServeHTTP(w, r)
		case "/_presign/healthz":
			w.Write([]byte("ok\n"))
		case "/_presign/revoke":
			revoke.ServeHTTP(w, r)
		default:
			s3api.ServeHTTP(w, r)
		}
	})
	return service{name: name, addr: addr, handler: h}
}

// service is one HTTP server of the process.
type service struct {
	name, addr string
	handler    http.Handler
	// ln, when set, is already bound (to addr), for a service whose real address had to be
	// known before serving, e.g. to tell another service where it is.
	ln net.Listener
	// tls, when set, makes the service HTTPS.
	tls *tls.Config
}

// serveHTTP runs the services until ctx ends, then drains requests in flight for at most
// srv.drain and returns nil: SIGTERM is a normal stop. Every listener is bound before any is
// announced, so a port conflict fails the start cleanly; each is capped at srv.connsPerAddr
// connections per client address.
func serveHTTP(ctx context.Context, log *slog.Logger, srv serverFlags, services ...service) error {
	drain := srv.drain
	type running struct {
		service
		ln  net.Listener
		srv *http.Server
	}
	var rs []running
	for _, s := range services {
		ln, err := s.ln, error(nil)
		if ln == nil {
			ln, err = net.Listen("tcp", s.addr)
		}
		if err != nil {
			for _, r := range rs {
				r.ln.Close()
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		ln = clientlimit.NewListener(ln, srv.connsPerAddr)
		rs = append(rs, running{s, ln, &http.Server{
			Handler:           s.handler,
			TLSConfig:         s.tls,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}})
	}
	errc := make(chan error, len(rs))
	for _, r := range rs {
		scheme, serve := "http", r.srv.Serve
		if r.tls != nil {
			scheme, serve = "https", func(ln net.Listener) error { return r.srv.ServeTLS(ln, "", "") }
		}
		log.Info(r.name+" listening", "url", scheme+"://"+r.ln.Addr().String())
		go func() {
			if err := serve(r.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", r.name, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down: draining requests in flight", "timeout", drain)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	for _, r := range rs {
		if serr := r.srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("%s: shutdown: %w", r.name, serr)
		}
	}
	return err
}
