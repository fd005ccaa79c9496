package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"presign/bench/internal/load"
	"presign/bench/internal/stats"
)

// The CPU accounting rounds say where a transfer's CPU goes: on a machine whose client, gateway
// and service share a few cores, a gateway's ratio is decided by the CPU it adds per byte, and
// by what it makes the others spend. Each round PUTs and GETs one object through each target
// with the load client, in this process, and reads the CPU time of SeaweedFS, the gateway and
// this process from /proc before and after each phase.

// cpuTarget is an endpoint the CPU rounds send to.
type cpuTarget struct {
	name, endpoint, accessKey, secretKey, bucket string
}

// cpuSample is one phase of one round: its throughput and the CPU seconds per GB moved that
// SeaweedFS, the gateway and the client spent.
type cpuSample struct {
	mbps, seaweed, gateway, client float64
}

// cpuRounds runs the accounting rounds and prints their medians.
func cpuRounds(ctx context.Context, rounds int, size int64, targets []cpuTarget, seaweedPID, gatewayPID int) error {
	procs := []load.Process{{PID: seaweedPID}, {PID: gatewayPID}, {PID: os.Getpid()}}
	measure := func(do func() error) (cpuSample, error) {
		// The previous round's writes do not land in this one.
		if err := exec.Command("sync").Run(); err != nil {
			return cpuSample{}, fmt.Errorf("sync: %w", err)
		}
		var before [3]float64
		for i, p := range procs {
			var err error
			if before[i], err = p.CPUSeconds(); err != nil {
				return cpuSample{}, err
			}
		}
		start := time.Now()
		if err := do(); err != nil {
			return cpuSample{}, err
		}
		secs := time.Since(start).Seconds()
		var per [3]float64
		for i, p := range procs {
			after, err := p.CPUSeconds()
			if err != nil {
				return cpuSample{}, err
			}
			per[i] = (after - before[i]) / (float64(size) / 1e9)
		}
		return cpuSample{mbps: float64(size) / 1e6 / secs, seaweed: per[0], gateway: per[1], client: per[2]}, nil
	}
	type key struct{ target, phase string }
	samples := map[key][]cpuSample{}
	for r := range rounds {
		for _, t := range targets {
			c, err := load.NewClient(load.Target{Endpoint: t.endpoint, AccessKey: t.accessKey, SecretKey: t.secretKey, Bucket: t.bucket}, 1, 15*time.Minute)
			if err != nil {
				return err
			}
			// The bucket exists already unless no load round made it.
			if err := c.CreateBucket(ctx); err != nil {
				return err
			}
			objKey := fmt.Sprintf("cpu/%d", time.Now().UnixNano())
			var crc uint32
			s, err := measure(func() (err error) {
				crc, err = c.PutStream(ctx, objKey, size)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s PUT: %w", t.name, err)
			}
			samples[key{t.name, "put"}] = append(samples[key{t.name, "put"}], s)
			s, err = measure(func() error { return c.GetChecked(ctx, objKey, size, crc) })
			c.Close()
			if err != nil {
				return fmt.Errorf("%s GET: %w", t.name, err)
			}
			samples[key{t.name, "get"}] = append(samples[key{t.name, "get"}], s)
			fmt.Fprintf(os.Stderr, "cpu round %d %s: put %+v get %+v\n", r+1, t.name, samples[key{t.name, "put"}][r], s)
		}
	}
	fmt.Printf("\n| CPU-seconds per GB (median of %d) | MB/s | SeaweedFS | gateway | client |\n|---|---|---|---|---|\n", rounds)
	for _, phase := range []string{"put", "get"} {
		for _, t := range targets {
			ss := samples[key{t.name, phase}]
			med := func(f func(cpuSample) float64) float64 { return stats.Median(ss, f) }
			fmt.Printf("| %s through %s | %.0f | %.2f | %.2f | %.2f |\n", phase, t.name, med(func(s cpuSample) float64 { return s.mbps }),
				med(func(s cpuSample) float64 { return s.seaweed }), med(func(s cpuSample) float64 { return s.gateway }), med(func(s cpuSample) float64 { return s.client }))
		}
	}
	return nil
}
