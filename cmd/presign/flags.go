package main

import (
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"presign/storage"
)

// byteSize is a flag of a number of bytes, written plainly or with a unit (KiB, MiB, GiB,
// TiB, or KB, MB, GB, TB in powers of ten).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size (e.g. 5GiB, 100MiB, 1048576)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// serverFlags are the flags of every command that runs a server (serve, storage, control): how
// long a stop drains and what HTTPS is served with. One registration keeps their names,
// defaults and help the same in the three commands.
type serverFlags struct {
	drain        time.Duration
	tls          tlsFlags
	metricsToken string
	// connsPerAddr caps each listener's connections from one IP address (0: no cap).
	connsPerAddr int
	// bodyTimeout bounds the whole of a small request body: the control plane's JSON, the
	// storage node's form fields.
	bodyTimeout time.Duration
}

// defaultConnsPerAddr is --max-conns-per-ip's default: far above what a browser (6 per host)
// or an SDK's pool opens, far below a process's descriptors.
const defaultConnsPerAddr = 256

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.drain, "shutdown-timeout", time.Minute, "how long SIGTERM waits for requests in flight")
	fs.StringVar(&f.metricsToken, "metrics-token", "", "bearer token /metrics (and the storage node's /_presign/metrics) require (default $PRESIGN_METRICS_TOKEN; none: metrics are served to loopback clients only)")
	fs.IntVar(&f.connsPerAddr, "max-conns-per-ip", defaultConnsPerAddr, "connections one client IP address may hold open on each listener; more are closed at once (0: no cap; behind a reverse proxy every client has its address, raise it or let the proxy cap instead)")
	fs.DurationVar(&f.bodyTimeout, "body-timeout", storage.DefaultSmallBodyTimeout, "how long a small request body may take in all (the control plane's JSON and webhook bodies, a POST form's fields): a client trickling one is cut off")
	f.tls.register(fs)
}

// token returns the metrics token: the flag's, else $PRESIGN_METRICS_TOKEN's.
func (f *serverFlags) token(m *Main) string {
	if f.metricsToken != "" {
		return f.metricsToken
	}
	return m.Getenv("PRESIGN_METRICS_TOKEN")
}

// logger writes structured logs to stderr; PRESIGN_LOG=debug shows more.
func (m *Main) logger() *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(m.Getenv("PRESIGN_LOG"), "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	startDebug(m.Getenv("PRESIGN_PPROF"), log)
	return log
}

// metaFlag is a repeatable KEY=VALUE flag: metadata given with an upload's ticket. The control
// plane checks keys and values; here only the form is.
type metaFlag map[string]string

func (m metaFlag) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	if _, dup := m[k]; dup {
		return fmt.Errorf("metadata key %q given twice", k)
	}
	m[k] = v
	return nil
}
