// Command storagebench measures the storage node against the machine's own ceiling,
// fsyncsink (bench/fsyncsink: write, fsync, rename, nothing checked), with the project's load
// client (bench/internal/load): each scenario runs for several rounds, alternating the two
// servers, and the medians and their ratio are printed as a table.
//
//	go run ./bench/storagebench -rounds 3
//
// It builds presign and fsyncsink itself and starts each measurement on a fresh server with an
// empty data directory. The server's peak RSS and CPU time are read from /proc for each phase.
//
// The "multipart" scenario: presign receives a 1 GiB object as 64 presigned 16 MiB parts, 8 in
// parallel (BenchmarkPresignedMultipartUpload of ./storage, built as a test binary and pointed
// at the node), while fsyncsink receives the same gigabyte as one PUT; the ratio compares the
// two, and the completion's own time is printed beside it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"presign/bench/internal/load"
	"presign/bench/internal/serverproc"
	"presign/bench/internal/stats"
)

type scenario struct {
	name string
	load load.Config // Scenario, Size and Concurrency; the rest is filled per measurement
	// multipart: presign is measured with the storage package's multipart benchmark, and
	// load only applies to fsyncsink.
	multipart bool
}

func main() {
	rounds := flag.Int("rounds", 3, "rounds per scenario, alternating the servers")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	dur := flag.Duration("duration", 10*time.Second, "duration of each small-object run")
	syncDir := flag.Bool("sink-fsync-dir", false, "fsyncsink also fsyncs its directory after each rename, as presign's disk backend does to make names durable")
	flag.Parse()
	if err := run(*rounds, *only, *dur, *syncDir); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(1)
	}
}

const (
	benchAccessKey = "BENCHACCESSKEY"
	benchSecretKey = "bench-secret-key"
)

func run(rounds int, only string, dur time.Duration, syncDir bool) error {
	bin, err := os.MkdirTemp("", "storagebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	small := func(size int64, conc int) load.Config {
		return load.Config{Scenario: load.ScenarioSmall, Size: size, Concurrency: conc, Duration: dur}
	}
	scenarios := slices.DeleteFunc([]scenario{
		{name: "2GiB", load: load.Config{Scenario: load.ScenarioBig, Size: 2 << 30}},
		{name: "1MiB x64", load: small(1<<20, 64)},
		{name: "4KiB x64", load: small(4<<10, 64)},
		{name: "4KiB x1", load: small(4<<10, 1)},
		{name: "64MiB x64", load: small(64<<20, 64)},
		{name: "multipart 1GiB 8x16MiB", load: load.Config{Scenario: load.ScenarioBig, Size: 1 << 30}, multipart: true},
	}, func(sc scenario) bool { return !strings.Contains(sc.name, only) })
	builds := [][]string{{"build", "-o", filepath.Join(bin, "presign"), "./cmd/presign"}, {"build", "-o", filepath.Join(bin, "fsyncsink"), "./bench/fsyncsink"}}
	if slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.multipart }) {
		builds = append(builds, []string{"test", "-c", "-o", filepath.Join(bin, "storage.test"), "./storage"})
	}
	for _, args := range builds {
		cmd := exec.Command("go", args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
	}
	type key struct{ scenario, server, phase string }
	samples := map[key][]load.Result{}
	for _, sc := range scenarios {
		for r := range rounds {
			order := []string{"fsyncsink", "presign"}
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, server := range order {
				res, err := measure(bin, server, sc, syncDir)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", sc.name, server, err)
				}
				for _, x := range res {
					samples[key{sc.name, server, x.Phase}] = append(samples[key{sc.name, server, x.Phase}], x)
				}
				fmt.Fprintf(os.Stderr, "%s round %d %s: %+v\n", sc.name, r+1, server, res)
			}
		}
	}
	med := func(rs []load.Result, f func(load.Result) float64) float64 { return stats.Median(rs, f) }
	rss := func(x load.Result) float64 { return x.ServerPeakRSSMiB }
	fmt.Printf("fsyncsink fsyncs each object%s; medians of %d rounds\n\n", map[bool]string{true: " and its directory", false: ""}[syncDir], rounds)
	fmt.Printf("| scenario | phase | presign | fsyncsink | ratio | presign p50/p99 ms | presign peak RSS MiB |\n|---|---|---|---|---|---|---|\n")
	for _, sc := range scenarios {
		if sc.multipart {
			p, n := samples[key{sc.name, "presign", "put"}], samples[key{sc.name, "fsyncsink", "put"}]
			mbps := func(x load.Result) float64 { return x.MBps }
			pm, nm := med(p, mbps), med(n, mbps)
			fmt.Printf("| %s | put (fsyncsink: one PUT) | %.0f MB/s | %.0f MB/s | %.2f | completion %.0f ms | %.0f |\n", sc.name, pm, nm, pm/nm,
				med(p, func(x load.Result) float64 { return x.P50ms }), stats.Max(p, rss))
			continue
		}
		for _, phase := range []string{"put", "get"} {
			p, n := samples[key{sc.name, "presign", phase}], samples[key{sc.name, "fsyncsink", phase}]
			metric, unit := func(x load.Result) float64 { return x.OpsPerSec }, "ops/s"
			if sc.load.Scenario == load.ScenarioBig {
				metric, unit = func(x load.Result) float64 { return x.MBps }, "MB/s"
			}
			pm, nm := med(p, metric), med(n, metric)
			fmt.Printf("| %s | %s | %.0f %s | %.0f %s | %.2f | %.1f / %.1f | %.0f |\n", sc.name, phase, pm, unit, nm, unit, pm/nm,
				med(p, func(x load.Result) float64 { return x.P50ms }), med(p, func(x load.Result) float64 { return x.P99ms }), stats.Max(p, rss))
		}
	}
	return nil
}

// measure starts a fresh server on a new data directory, runs the load client (or, for
// presign in a multipart scenario, the multipart benchmark) against it and stops it.
func measure(bin, server string, sc scenario, syncDir bool) ([]load.Result, error) {
	data, err := os.MkdirTemp("", "storagebench-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	var cmd *exec.Cmd
	if server == "fsyncsink" {
		cmd = exec.Command(filepath.Join(bin, "fsyncsink"), "-addr", "127.0.0.1:0", "-dir", data, "-fsync-dir="+strconv.FormatBool(syncDir))
	} else {
		cmd = exec.Command(filepath.Join(bin, "presign"), "storage", "--data", data, "--addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "PRESIGN_ACCESS_KEY="+benchAccessKey, "PRESIGN_SECRET_KEY="+benchSecretKey)
	}
	srv, err := serverproc.Start(cmd, 20*time.Second)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if sc.multipart && server == "presign" {
		return multipart(ctx, bin, srv)
	}
	cfg := sc.load
	cfg.Target = load.Target{Endpoint: srv.URL, AccessKey: benchAccessKey, SecretKey: benchSecretKey, Bucket: "storagebench"}
	cfg.CreateBucket, cfg.ServerPID = true, srv.PID
	return load.Run(ctx, cfg)
}

var (
	benchMBps     = regexp.MustCompile(`([0-9.]+) MB/s`)
	benchComplete = regexp.MustCompile(`([0-9.]+) complete-ms/op`)
)

// multipart runs one iteration of BenchmarkPresignedMultipartUpload against the node and
// returns it as a put result: MB/s of the whole upload, the completion's milliseconds as
// P50ms, and the node's peak RSS.
func multipart(ctx context.Context, bin string, srv *serverproc.Process) ([]load.Result, error) {
	node := load.Process{PID: srv.PID}
	if err := node.ResetPeakRSS(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "storage.test"), "-test.run", "^$",
		"-test.bench", "^BenchmarkPresignedMultipartUpload$", "-test.benchtime", "1x")
	cmd.Env = append(os.Environ(), "PRESIGN_BENCH_ENDPOINT="+srv.URL, "PRESIGN_ACCESS_KEY="+benchAccessKey, "PRESIGN_SECRET_KEY="+benchSecretKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("multipart benchmark: %w\n%s", err, out)
	}
	mb, ms := benchMBps.FindSubmatch(out), benchComplete.FindSubmatch(out)
	if mb == nil || ms == nil {
		return nil, fmt.Errorf("multipart benchmark printed no result:\n%s", out)
	}
	r := load.Result{Scenario: "multipart", Phase: "put"}
	if r.MBps, err = strconv.ParseFloat(string(mb[1]), 64); err != nil {
		return nil, err
	}
	if r.P50ms, err = strconv.ParseFloat(string(ms[1]), 64); err != nil {
		return nil, err
	}
	if r.ServerPeakRSSMiB, err = node.PeakRSSMiB(); err != nil {
		return nil, err
	}
	return []load.Result{r}, nil
}
