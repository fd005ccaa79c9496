// Command storagebench measures the storage node against the machine's own ceiling, the
// nullsink server of ../shared/bench, with the shared presignload client, as the storage-node
// issue asks: each scenario is run for several rounds, alternating the two servers, and the
// medians and their ratio are printed as a table.
//
//	go run ./bench/storagebench -rounds 3
//
// It builds presign, nullsink and presignload itself. Server peak RSS comes from presignload's
// -server-pid (VmHWM, reset at the start of each run).
//
// The "multipart" scenario is the multipart issue's: presign receives a 1 GiB object as 64
// presigned 16 MiB parts, 8 in parallel (BenchmarkPresignedMultipartUpload of ./storage, built
// as a test binary and pointed at the node), while nullsink receives the same gigabyte as one
// PUT; the ratio compares the two, and the completion's own time is printed beside it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"presign/bench/internal/loadrun"
)

type scenario struct {
	name string
	args []string
	// multipart: presign is measured with the storage package's multipart benchmark (args
	// then only apply to nullsink).
	multipart bool
}

func main() {
	shared := flag.String("shared", "../shared/bench", "the shared bench folder (nullsink, presignload)")
	rounds := flag.Int("rounds", 3, "rounds per scenario, alternating the servers")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	dur := flag.Duration("duration", 10*time.Second, "duration of each small-object run")
	flag.Parse()
	if err := run(*shared, *rounds, *only, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(1)
	}
}

func run(shared string, rounds int, only string, dur time.Duration) error {
	bin, err := os.MkdirTemp("", "storagebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	d := dur.String()
	scenarios := slices.DeleteFunc([]scenario{
		{name: "2GiB", args: []string{"-scenario", "big", "-size", "2GiB"}},
		{name: "1MiB x64", args: []string{"-scenario", "small", "-size", "1MiB", "-concurrency", "64", "-duration", d}},
		{name: "4KiB x64", args: []string{"-scenario", "small", "-size", "4KiB", "-concurrency", "64", "-duration", d}},
		{name: "4KiB x1", args: []string{"-scenario", "small", "-size", "4KiB", "-concurrency", "1", "-duration", d}},
		{name: "64MiB x64", args: []string{"-scenario", "small", "-size", "64MiB", "-concurrency", "64", "-duration", d}},
		{name: "multipart 1GiB 8x16MiB", args: []string{"-scenario", "big", "-size", "1GiB"}, multipart: true},
	}, func(sc scenario) bool { return !strings.Contains(sc.name, only) })
	if slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.multipart }) {
		test := exec.Command("go", "test", "-c", "-o", filepath.Join(bin, "storage.test"), "./storage")
		test.Stderr = os.Stderr
		if err := test.Run(); err != nil {
			return fmt.Errorf("build storage.test: %w", err)
		}
	}
	for _, b := range []struct{ dir, out string }{
		{".", "presign"}, {filepath.Join(shared, "nullsink"), "nullsink"}, {filepath.Join(shared, "presignload"), "presignload"},
	} {
		pkg := "."
		if b.out == "presign" {
			pkg = "./cmd/presign"
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), pkg)
		cmd.Dir, cmd.Stderr = b.dir, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.out, err)
		}
	}
	type key struct{ scenario, server, phase string }
	samples := map[key][]loadrun.Result{}
	for _, sc := range scenarios {
		for r := 0; r < rounds; r++ {
			order := []string{"nullsink", "presign"}
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, server := range order {
				res, err := measure(bin, server, sc)
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
	fmt.Printf("| scenario | phase | presign | nullsink | ratio | presign p50/p99 ms | presign peak RSS MiB |\n|---|---|---|---|---|---|---|\n")
	for _, sc := range scenarios {
		if sc.multipart {
			p, n := samples[key{sc.name, "presign", "put"}], samples[key{sc.name, "nullsink", "put"}]
			if len(p) == 0 || len(n) == 0 {
				continue
			}
			mbps := func(x loadrun.Result) float64 { return x.MBps }
			pm, nm := loadrun.Median(p, mbps), loadrun.Median(n, mbps)
			fmt.Printf("| %s | put (nullsink: one PUT) | %.0f MB/s | %.0f MB/s | %.2f | completion %.0f ms | %.0f |\n", sc.name, pm, nm, pm/nm,
				loadrun.Median(p, func(x loadrun.Result) float64 { return x.P50ms }), loadrun.Max(p, func(x loadrun.Result) float64 { return x.ServerRSSMB }))
			continue
		}
		for _, phase := range []string{"put", "get"} {
			p, n := samples[key{sc.name, "presign", phase}], samples[key{sc.name, "nullsink", phase}]
			if len(p) == 0 || len(n) == 0 {
				continue
			}
			metric, unit := func(x loadrun.Result) float64 { return x.OpsPerSec }, "ops/s"
			if strings.HasPrefix(sc.name, "2GiB") {
				metric, unit = func(x loadrun.Result) float64 { return x.MBps }, "MB/s"
			}
			pm, nm := loadrun.Median(p, metric), loadrun.Median(n, metric)
			fmt.Printf("| %s | %s | %.0f %s | %.0f %s | %.2f | %.1f / %.1f | %.0f |\n", sc.name, phase, pm, unit, nm, unit, pm/nm,
				loadrun.Median(p, func(x loadrun.Result) float64 { return x.P50ms }), loadrun.Median(p, func(x loadrun.Result) float64 { return x.P99ms }),
				loadrun.Max(p, func(x loadrun.Result) float64 { return x.ServerRSSMB }))
		}
	}
	return nil
}

var listening = regexp.MustCompile(`url=http://(\S+)`)

// measure starts a fresh server on a new data directory, runs presignload (or, for presign in
// a multipart scenario, the multipart benchmark) against it and stops it.
func measure(bin, server string, sc scenario) ([]loadrun.Result, error) {
	data, err := os.MkdirTemp("", "storagebench-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	const ak, sk = "BENCHACCESSKEY", "bench-secret-key"
	var cmd *exec.Cmd
	addr := "127.0.0.1:9751"
	if server == "nullsink" {
		cmd = exec.Command(filepath.Join(bin, "nullsink"), "-addr", addr, "-dir", data)
	} else {
		cmd = exec.Command(filepath.Join(bin, "presign"), "storage", "--data", data, "--addr", addr)
		cmd.Env = append(os.Environ(), "PRESIGN_ACCESS_KEY="+ak, "PRESIGN_SECRET_KEY="+sk)
	}
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	ready := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stderr)
		once := false
		for s.Scan() {
			if !once && (listening.MatchString(s.Text()) || strings.Contains(s.Text(), "nullsink on")) {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		return nil, errors.New("server did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if sc.multipart && server == "presign" {
		return multipart(ctx, bin, addr, ak, sk, cmd.Process.Pid)
	}
	return loadrun.Run(ctx, filepath.Join(bin, "presignload"), append([]string{"-endpoint", "http://" + addr,
		"-access-key", ak, "-secret-key", sk, "-server-pid", fmt.Sprint(cmd.Process.Pid)}, sc.args...)...)
}

var (
	benchMBps     = regexp.MustCompile(`([0-9.]+) MB/s`)
	benchComplete = regexp.MustCompile(`([0-9.]+) complete-ms/op`)
	vmHWM         = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)
)

// multipart runs one iteration of BenchmarkPresignedMultipartUpload against the node at addr
// and returns it as a put result: MB/s of the whole upload, the completion's milliseconds as
// P50ms, and the node's peak RSS.
func multipart(ctx context.Context, bin, addr, ak, sk string, pid int) ([]loadrun.Result, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "storage.test"), "-test.run", "^$",
		"-test.bench", "^BenchmarkPresignedMultipartUpload$", "-test.benchtime", "1x")
	cmd.Env = append(os.Environ(), "PRESIGN_BENCH_ENDPOINT=http://"+addr, "PRESIGN_ACCESS_KEY="+ak, "PRESIGN_SECRET_KEY="+sk)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("multipart benchmark: %w\n%s", err, out)
	}
	mb, ms := benchMBps.FindSubmatch(out), benchComplete.FindSubmatch(out)
	if mb == nil || ms == nil {
		return nil, fmt.Errorf("multipart benchmark printed no result:\n%s", out)
	}
	r := loadrun.Result{Scenario: "multipart", Phase: "put"}
	fmt.Sscan(string(mb[1]), &r.MBps)
	fmt.Sscan(string(ms[1]), &r.P50ms)
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		if m := vmHWM.FindSubmatch(status); m != nil {
			var kb float64
			fmt.Sscan(string(m[1]), &kb)
			r.ServerRSSMB = kb / 1024
		}
	}
	return []loadrun.Result{r}, nil
}
