// Command gatewaybench measures a presign storage node running as a gateway over SeaweedFS
// against SeaweedFS's own S3 API, in the same run: a 2 GiB PUT and GET with the project's load
// client (bench/internal/load: presigned URLs, CRC-32C checked), alternating the two targets
// for several rounds, and prints the medians and the gateway's ratio to SeaweedFS.
//
//	go run ./bench/gatewaybench -rounds 3
//
// It builds presign itself and starts SeaweedFS (scripts/build-seaweedfs.sh must have built
// it). Both targets write into the same (versioned) SeaweedFS bucket, so the ratio is the
// gateway's own cost. Each server's peak RSS comes from /proc (VmHWM, reset at the start of
// each phase). Then -cpu-rounds more rounds say how many CPU-seconds per GB SeaweedFS, the
// gateway and the client spent in each phase (cpu.go). The gateway runs with the node's
// default congestion control, auto, which puts its loopback sockets on reno;
// -gateway-tcp-congestion host keeps them on the host's default, as SeaweedFS and the client
// always are (docs/gateway.md, Performance).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"presign/bench/internal/load"
	"presign/bench/internal/serverproc"
	"presign/bench/internal/stats"
	"presign/internal/tcpcc"
	"presign/internal/testenv/seaweed"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds, alternating the targets")
	size := flag.String("size", "2GiB", "object size")
	cpu := flag.Int("cpu-rounds", 2, "rounds that account the CPU of client, gateway and SeaweedFS per GB (see cpu.go)")
	cc := flag.String("gateway-tcp-congestion", tcpcc.Auto, "the gateway's --tcp-congestion and --backend-tcp-congestion: auto (the node's default), host, or an algorithm; SeaweedFS and the client keep the host's default")
	flag.Parse()
	if err := run(*rounds, *cpu, *size, *cc); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

const (
	nodeAccessKey = "GATEWAYBENCHKEY"
	nodeSecretKey = "gateway-bench-secret"
)

func run(rounds, cpu int, size, cc string) error {
	bytes, err := load.ParseSize(size)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	build := exec.Command("go", "build", "-o", filepath.Join(work, "presign"), "./cmd/presign")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build presign: %w", err)
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
	defer node.Stop()

	targets := map[string]load.Config{
		// The gateway turned versioning on in the bucket: SeaweedFS is measured on the bucket
		// the gateway writes to.
		"seaweedfs": {Target: load.Target{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: srv.Bucket},
			ServerPID: srv.PID},
		"gateway": {Target: load.Target{Endpoint: node.URL, AccessKey: nodeAccessKey, SecretKey: nodeSecretKey, Bucket: "bench"},
			CreateBucket: true, ServerPID: node.PID},
	}
	type key struct{ target, phase string }
	samples := map[key][]load.Result{}
	for r := range rounds {
		order := []string{"seaweedfs", "gateway"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, target := range order {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			cfg := targets[target]
			cfg.Scenario, cfg.Size = load.ScenarioBig, bytes
			res, err := load.Run(ctx, cfg)
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
		mbps := func(x load.Result) float64 { return x.MBps }
		rss := func(x load.Result) float64 { return x.ServerPeakRSSMiB }
		gm, sm := stats.Median(g, mbps), stats.Median(s, mbps)
		fmt.Printf("| %s (median of %d) | %.0f | %.0f | %.2f | %.0f | %.0f |\n", phase, len(g), gm, sm, gm/sm, stats.Max(g, rss), stats.Max(s, rss))
	}
	if cpu <= 0 {
		return nil
	}
	return cpuRounds(context.Background(), cpu, bytes, []cpuTarget{
		{"seaweedfs", srv.Endpoint, srv.AccessKey, srv.SecretKey, srv.Bucket},
		{"gateway", node.URL, nodeAccessKey, nodeSecretKey, "bench"},
	}, srv.PID, node.PID)
}

// startGateway runs presign storage as a gateway over srv, its sockets' congestion control
// chosen by cc.
func startGateway(work string, srv *seaweed.Server, cc string) (*serverproc.Process, error) {
	cmd := exec.Command(filepath.Join(work, "presign"), "storage", "--data", filepath.Join(work, "node"), "--addr", "127.0.0.1:0",
		"--backend", "s3", "--backend-endpoint", srv.Endpoint, "--backend-bucket", srv.Bucket, "--backend-path-style",
		"--backend-prefix", "gatewaybench/", "--tcp-congestion", cc, "--backend-tcp-congestion", cc)
	cmd.Env = append(os.Environ(), "PRESIGN_ACCESS_KEY="+nodeAccessKey, "PRESIGN_SECRET_KEY="+nodeSecretKey,
		"PRESIGN_BACKEND_ACCESS_KEY="+srv.AccessKey, "PRESIGN_BACKEND_SECRET_KEY="+srv.SecretKey)
	return serverproc.Start(cmd, 30*time.Second)
}
