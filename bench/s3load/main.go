// Command s3load drives an S3-compatible endpoint through presigned URLs, the way the clients
// of a pre-signed-URL system do, and prints throughput, latency and, given the server's pid,
// the server's peak RSS and CPU time in each phase. It is the command-line face of the bench
// programs' load client (bench/internal/load, where the scenarios are described).
//
//	go run ./bench/s3load -endpoint http://127.0.0.1:9000 -access-key AK -secret-key SK -scenario big -size 2GiB
//	go run ./bench/s3load ... -scenario small -size 4KiB -concurrency 64 -duration 10s -server-pid PID -json
//
// Build it first (go build -o s3load ./bench/s3load) when measuring: go run's compilation
// would compete with the server for the CPU.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"presign/bench/internal/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("s3load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg load.Config
	fs.StringVar(&cfg.Target.Endpoint, "endpoint", "http://127.0.0.1:9000", "the S3 endpoint's base URL (buckets in the path)")
	fs.StringVar(&cfg.Target.Region, "region", "us-east-1", "the region to sign for")
	fs.StringVar(&cfg.Target.AccessKey, "access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&cfg.Target.SecretKey, "secret-key", "", "secret key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&cfg.Target.Bucket, "bucket", "s3load", "the bucket to use")
	fs.BoolVar(&cfg.CreateBucket, "create-bucket", true, "create the bucket first (one that is already yours is fine)")
	fs.StringVar(&cfg.Scenario, "scenario", load.ScenarioBig, "big (one object, PUT then GET), small (many objects at -concurrency) or sign (URLs signed per second)")
	size := fs.String("size", "", "object size: bytes, or with B, KiB, MiB, GiB (default 1GiB for big, 4KiB for small)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "workers of the small scenario")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long the small scenario PUTs and the sign scenario signs")
	fs.DurationVar(&cfg.Expires, "expires", 15*time.Minute, "lifetime of the presigned URLs")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's pid, to report its peak RSS and CPU time per phase (Linux)")
	asJSON := fs.Bool("json", false, "print one JSON object per phase")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "s3load: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	// The secret comes from the environment unless given, and is never shown as a default.
	if cfg.Target.SecretKey == "" {
		cfg.Target.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	switch {
	case *size != "":
		n, err := load.ParseSize(*size)
		if err != nil {
			fmt.Fprintln(stderr, "s3load:", err)
			return 2
		}
		cfg.Size = n
	case cfg.Scenario == load.ScenarioBig:
		cfg.Size = 1 << 30
	case cfg.Scenario == load.ScenarioSmall:
		cfg.Size = 4 << 10
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "s3load:", err)
		return 1
	}
	for _, r := range res {
		if *asJSON {
			b, err := json.Marshal(r)
			if err != nil {
				fmt.Fprintln(stderr, "s3load:", err)
				return 1
			}
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		fmt.Fprintf(stdout, "%-5s %-4s size=%d conc=%d ops=%d %.2fs %.1f MB/s %.1f ops/s p50=%.2fms p99=%.2fms",
			r.Scenario, r.Phase, r.Size, r.Concurrency, r.Ops, r.Seconds, r.MBps, r.OpsPerSec, r.P50ms, r.P99ms)
		if cfg.ServerPID != 0 {
			fmt.Fprintf(stdout, " server: peak RSS %.0f MiB, CPU %.2fs", r.ServerPeakRSSMiB, r.ServerCPUSeconds)
		}
		fmt.Fprintln(stdout)
	}
	return 0
}
