package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"presign/control"
)

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var sf storageFlags
	sf.register(fs, "storage-addr")
	var cf controlFlags
	cf.register(fs)
	var srv serverFlags
	srv.register(fs)
	cf.provider.register(fs, "this process's own storage node")
	var bucketName string
	var events bool
	fs.StringVar(&bucketName, "bucket", "presign", "the bucket the files go to")
	fs.BoolVar(&events, "events", true, "send the storage node's object events to the control plane (off: completion comes from clients and the reconciler)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: presign serve [flags]\n\nRuns the control plane and the storage node on this machine, with embedded defaults.\nThe admin password comes from PRESIGN_ADMIN_PASSWORD on first start, or is generated and printed once.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cf.provider.check(); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	st, err := srv.tls.load()
	if err != nil {
		return err
	}
	log := m.logger()
	// Both listeners are bound first: each plane must know the other's real address (the ports
	// may be 0) before it starts. Until serveHTTP takes them over, a failed start closes them.
	var bound []net.Listener
	defer func() {
		for _, ln := range bound {
			ln.Close()
		}
	}()
	ctlLn, err := net.Listen("tcp", cf.addr)
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	bound = append(bound, ctlLn)
	stLn, err := listenTCP(ctx, sf.addr, sf.tcpCongestion)
	if err != nil {
		return fmt.Errorf("storage node: %w", err)
	}
	bound = append(bound, stLn)
	// Over HTTPS both planes call each other with a client that trusts the served certificate.
	ctlURL, stURL := st.scheme()+"://"+dialable(ctlLn.Addr()), st.scheme()+"://"+dialable(stLn.Addr())
	sf.notify.client = st.loopbackClient(10 * time.Second)
	var secrets [][]byte
	if events {
		secret, err := webhookSecret(sf.data)
		if err != nil {
			return err
		}
		sf.notify.addTarget(ctlURL+"/v1/storage-events", secret, m.Getenv("PRESIGN_NOTIFY_SECRET"))
		secrets = [][]byte{[]byte(secret)}
	}
	// One --cors-origin list serves both planes: an application's page calls the control plane
	// and then storage. The page of serve's own control plane is added for storage.
	cf.corsOrigins = sf.corsOrigins
	sf.corsOrigins = append(sf.corsOrigins, origins(st.scheme(), ctlLn.Addr())...)
	// The control plane's files belong to its users: no policy may open its bucket.
	sf.privateBuckets = append(sf.privateBuckets, bucketName)
	sf.bodyTimeout = srv.bodyTimeout
	node, err := m.openStorage(ctx, sf, log)
	if err != nil {
		return err
	}
	defer node.close()
	cp, err := m.openControl(ctx, controlSetup{flags: cf, dataDir: sf.data, endpoint: stURL, bucket: bucketName,
		region: sf.region, extensions: control.ExtensionsOn, creds: node.creds, eventSecrets: secrets,
		s3Client: st.loopbackClient(2 * time.Minute), metricsToken: srv.token(m), bodyTimeout: srv.bodyTimeout}, log)
	if err != nil {
		return err
	}
	defer cp.close()
	ctl := cp.start(ctx, m, cf.addr, log)
	ctl.ln, ctl.tls = ctlLn, st.tlsConfig()
	stor := node.listener("storage node", sf.addr, m.registry, srv.token(m))
	stor.ln, stor.tls = stLn, st.tlsConfig()
	bound = nil // serveHTTP closes them
	return serveHTTP(ctx, log, srv, ctl, stor)
}

// addTarget adds the control plane's webhook to the user's --notify-url targets, keeping each
// URL paired with its secret.
func (f *notifyFlags) addTarget(url, secret, envSecret string) {
	if len(f.urls) > 0 && len(f.secrets) <= 1 {
		one := envSecret
		if len(f.secrets) == 1 {
			one = f.secrets[0]
		}
		f.secrets = nil
		for range f.urls {
			f.secrets = append(f.secrets, one)
		}
	}
	f.urls = append(f.urls, url)
	f.secrets = append(f.secrets, secret)
}

// origins are the web origins of the control plane's page (scheme http or https): its address,
// and localhost for a loopback address, so a browser on this machine may upload straight to the
// storage node.
func origins(scheme string, addr net.Addr) []string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil
	}
	out := []string{scheme + "://" + net.JoinHostPort(host, port)}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		out = append(out, scheme+"://localhost:"+port)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		out = []string{scheme + "://localhost:" + port, scheme + "://127.0.0.1:" + port}
	}
	return uniq(out)
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	return out
}

// dialable is a listener's address as this machine reaches it: a wildcard host (0.0.0.0, ::)
// becomes the loopback address. Clients elsewhere need --public-storage-url.
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
