// Command gatewaybench measures a presign storage node running as a gateway over SeaweedFS
// against SeaweedFS's own S3 API, in the same run: a 2 GiB PUT and GET with the shared
// presignload client (presigned URLs, CRC-32C checked), alternating the two targets for several
// rounds, and prints the medians and the gateway's ratio to SeaweedFS.
//
//	go run ./bench/gatewaybench -rounds 3
//
// It builds presign and presignload itself and starts SeaweedFS (scripts/build-seaweedfs.sh
// must have built it). Both targets write into the same (versioned) SeaweedFS bucket, so the
// ratio is the gateway's own cost. The gateway node's peak RSS comes from presignload's
// -server-pid (VmHWM, reset at the start of each run). Then -cpu-rounds more rounds, with a
// client of its own, say how many CPU-seconds per GB SeaweedFS, the gateway and the client spent
// in each phase (cpu.go). The gateway runs with the node's default congestion control, auto,
// which puts its loopback sockets on reno; -gateway-tcp-congestion host keeps them on the host's
// default, as SeaweedFS and the client always are (docs/gateway.md, Performance).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"presign/internal/tcpcc"
	"presign/internal/testenv/seaweed"

	"presign/bench/internal/loadrun"
)

func main() {
	shared := flag.String("shared", "../shared/bench", "the shared bench folder (presignload)")
	rounds := flag.Int("rounds", 3, "rounds, alternating the targets")
	size := flag.String("size", "2GiB", "object size")
	cpu := flag.Int("cpu-rounds", 2, "rounds that account the CPU of client, gateway and SeaweedFS per GB (see cpu.go)")
	cc := flag.String("gateway-tcp-congestion", tcpcc.Auto, "the gateway's --tcp-congestion and --backend-tcp-congestion: auto (the node's default), host, or an algorithm; SeaweedFS and the client keep the host's default")
	flag.Parse()
	if err := run(*shared, *rounds, *cpu, *size, *cc); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

const (
	nodeAccessKey = "GATEWAYBENCHKEY"
	nodeSecretKey = "gateway-bench-secret"
	nodeAddr      = "127.0.0.1:9752"
)

func run(shared string, rounds, cpu int, size, cc string) error {
	bytes, err := parseSize(size)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, b := range []struct{ dir, pkg, out string }{
		{".", "./cmd/presign", "presign"}, {filepath.Join(shared, "presignload"), ".", "presignload"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(work, b.out), b.pkg)
		cmd.Dir, cmd.Stderr = b.dir, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.out, err)
		}
	}
	fmt.Fprintln(os.Stderr, "starting SeaweedFS")
	srv, err := seaweed.Run(filepath.Join(work, "seaweed"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	node, err := startGateway(work, srv, cc)
	if err != nil {
		return err
	}
	defer func() {
		node.Process.Signal(os.Interrupt)
		node.Wait()
	}()

	targets := map[string][]string{
		// The gateway turned versioning on in the bucket: SeaweedFS is measured on the bucket
		// the gateway writes to.
		"seaweedfs": {"-endpoint", srv.Endpoint, "-access-key", srv.AccessKey, "-secret-key", srv.SecretKey,
			"-bucket", srv.Bucket, "-create-bucket=false", "-server-pid", fmt.Sprint(srv.PID)},
		"gateway": {"-endpoint", "http://" + nodeAddr, "-access-key", nodeAccessKey, "-secret-key", nodeSecretKey,
			"-bucket", "bench", "-server-pid", fmt.Sprint(node.Process.Pid)},
	}
	type key struct{ target, phase string }
	samples := map[key][]loadrun.Result{}
	for r := range rounds {
		order := []string{"seaweedfs", "gateway"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, target := range order {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			res, err := loadrun.Run(ctx, filepath.Join(work, "presignload"), append(targets[target], "-scenario", "big", "-size", size)...)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
			for _, x := range res {
				samples[key{target, x.Phase}] = append(samples[key{target, x.Phase}], x)
			}
			fmt.Fprintf(os.Stderr, "round %d %s: %+v\n", r+1, target, res)
		}
	}
	def, err := tcpcc.HostDefault()
	if err != nil {
		def = fmt.Sprintf("unknown (%v)", err)
	}
	fmt.Printf("gateway congestion control: %s (the host's default, which SeaweedFS and the client use: %s)\n\n", cc, def)
	fmt.Printf("| %s | gateway MB/s | SeaweedFS MB/s | ratio | gateway peak RSS MiB | SeaweedFS peak RSS MiB |\n|---|---|---|---|---|---|\n", size)
	for _, phase := range []string{"put", "get"} {
		g, s := samples[key{"gateway", phase}], samples[key{"seaweedfs", phase}]
		if len(g) == 0 || len(s) == 0 {
			continue
		}
		mbps := func(x loadrun.Result) float64 { return x.MBps }
		rss := func(x loadrun.Result) float64 { return x.ServerRSSMB }
		gm, sm := loadrun.Median(g, mbps), loadrun.Median(s, mbps)
		fmt.Printf("| %s (median of %d) | %.0f | %.0f | %.2f | %.0f | %.0f |\n", phase, len(g), gm, sm, gm/sm, loadrun.Max(g, rss), loadrun.Max(s, rss))
	}
	if cpu <= 0 {
		return nil
	}
	return cpuRounds(context.Background(), cpu, bytes, []cpuTarget{
		{"seaweedfs", srv.Endpoint, srv.AccessKey, srv.SecretKey, srv.Bucket},
		{"gateway", "http://" + nodeAddr, nodeAccessKey, nodeSecretKey, "bench"},
	}, srv.PID, node.Process.Pid)
}

// parseSize reads a size such as "2GiB" or "512MiB".
func parseSize(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("size %q: want a positive whole number of GiB, MiB or KiB", s)
			}
			return v * u.mult, nil
		}
	}
	return 0, fmt.Errorf("size %q: want a positive whole number of GiB, MiB or KiB", s)
}

var listening = regexp.MustCompile(`storage node listening`)

// startGateway runs presign storage as a gateway over srv, its sockets' congestion control
// chosen by cc.
func startGateway(work string, srv *seaweed.Server, cc string) (*exec.Cmd, error) {
	cmd := exec.Command(filepath.Join(work, "presign"), "storage", "--data", filepath.Join(work, "node"), "--addr", nodeAddr,
		"--backend", "s3", "--backend-endpoint", srv.Endpoint, "--backend-bucket", srv.Bucket, "--backend-path-style",
		"--backend-prefix", "gatewaybench/", "--tcp-congestion", cc, "--backend-tcp-congestion", cc)
	cmd.Env = append(os.Environ(), "PRESIGN_ACCESS_KEY="+nodeAccessKey, "PRESIGN_SECRET_KEY="+nodeSecretKey,
		"PRESIGN_BACKEND_ACCESS_KEY="+srv.AccessKey, "PRESIGN_BACKEND_SECRET_KEY="+srv.SecretKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready, done := make(chan struct{}), make(chan struct{})
	var lines []string
	go func() {
		defer close(done)
		s := bufio.NewScanner(stderr)
		once := false
		for s.Scan() {
			if !once {
				lines = append(lines, s.Text())
				if listening.MatchString(s.Text()) {
					once = true
					close(ready)
				}
			}
		}
	}()
	select {
	case <-ready:
		return cmd, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		return nil, fmt.Errorf("the gateway node did not start:\n%s", strings.Join(lines, "\n"))
	}
}
