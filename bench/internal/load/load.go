// Package load is presign's load client: it drives any S3-compatible endpoint through presigned
// URLs, the way the clients of a pre-signed-URL system do, and measures throughput, latency and
// what the server process spent in memory and CPU. The bench programs under bench/ call it in
// process; bench/s3load wraps it for the command line.
//
// Start with Run and Config. The scenarios live in big.go (one large object, PUT then GET,
// CRC-32C compared), small.go (many objects at a concurrency, ops/s and latency percentiles)
// and signrate.go (URLs signed per second); client.go signs and sends the requests, proc.go
// reads the server's figures from /proc.
//
// URLs are signed with aws-sdk-go-v2's SigV4 signer, not with presign's own sigv4 package, so
// that the node under test never checks signatures made by its own code, and any server can be
// measured with the same client in the same run. Compare ratios within one run, not absolute
// figures across runs: on a shared machine the absolute figures wander.
package load

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The scenarios Run knows.
const (
	// ScenarioBig PUTs one object of Config.Size from a generator, then GETs it back and
	// compares the CRC-32C of both directions: MB/s of each phase.
	ScenarioBig = "big"
	// ScenarioSmall runs Config.Concurrency workers PUTting objects of Config.Size for
	// Config.Duration, then GETs every object back, each checked against its own CRC-32C:
	// ops/s and p50/p99 latency of each phase.
	ScenarioSmall = "small"
	// ScenarioSign signs presigned PUT URLs for Config.Duration on one goroutine, without
	// sending them: the client's own rate, a reference for the others.
	ScenarioSign = "sign"
)

// Config is one run of the load client.
type Config struct {
	Target Target
	// CreateBucket creates Target.Bucket first; a bucket the caller already owns is fine.
	CreateBucket bool
	// Scenario is ScenarioBig, ScenarioSmall or ScenarioSign.
	Scenario string
	// Size is the object size in bytes (big and small).
	Size int64
	// Concurrency is the number of workers of the small scenario (default 16).
	Concurrency int
	// Duration is how long the small scenario PUTs and the sign scenario signs (default 10 s).
	Duration time.Duration
	// Expires is the presigned URLs' lifetime (default 15 minutes).
	Expires time.Duration
	// ServerPID, when not 0, is the server's process: each Result then carries the server's
	// peak RSS and CPU time during that phase, read from /proc (Linux).
	ServerPID int
}

// Result is one phase of a scenario. The JSON names are those s3load -json prints.
type Result struct {
	Scenario    string  `json:"scenario"`
	Phase       string  `json:"phase"` // "put", "get" or "sign"
	Size        int64   `json:"size"`
	Concurrency int     `json:"concurrency"`
	Ops         int64   `json:"ops"`
	Seconds     float64 `json:"seconds"`
	MBps        float64 `json:"mb_per_s"` // 10^6 bytes per second
	OpsPerSec   float64 `json:"ops_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	// ServerPeakRSSMiB is the server's largest resident set during the phase (VmHWM, reset at
	// the phase's start); 0 without Config.ServerPID.
	ServerPeakRSSMiB float64 `json:"server_peak_rss_mib,omitempty"`
	// ServerCPUSeconds is the user and system CPU time the server spent during the phase.
	ServerCPUSeconds float64 `json:"server_cpu_s,omitempty"`
}

// Run runs cfg's scenario and returns one Result per phase.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Expires == 0 {
		cfg.Expires = 15 * time.Minute
	}
	switch {
	case cfg.Scenario != ScenarioBig && cfg.Scenario != ScenarioSmall && cfg.Scenario != ScenarioSign:
		return nil, fmt.Errorf("load: unknown scenario %q (want %s, %s or %s)", cfg.Scenario, ScenarioBig, ScenarioSmall, ScenarioSign)
	case cfg.Scenario != ScenarioSign && cfg.Size <= 0:
		return nil, fmt.Errorf("load: the %s scenario needs a size above 0", cfg.Scenario)
	case cfg.Concurrency < 0 || cfg.Duration < 0 || cfg.Expires < 0:
		return nil, errors.New("load: concurrency, duration and expiry cannot be negative")
	}
	c, err := NewClient(cfg.Target, cfg.Concurrency, cfg.Expires)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if cfg.Scenario == ScenarioSign {
		return c.signRate(ctx, cfg.Duration)
	}
	if cfg.CreateBucket {
		if err := c.CreateBucket(ctx); err != nil {
			return nil, err
		}
	}
	w := watch{pid: cfg.ServerPID}
	if cfg.Scenario == ScenarioBig {
		return c.big(ctx, w, cfg.Size)
	}
	return c.small(ctx, w, cfg.Size, cfg.Concurrency, cfg.Duration)
}

// ParseSize reads a size written as a whole number of bytes, optionally followed by B, KiB,
// MiB or GiB: "4096", "4KiB", "2GiB".
func ParseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a whole number of bytes, optionally with B, KiB, MiB or GiB", s)
	}
	return v * mult, nil
}
