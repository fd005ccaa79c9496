package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"presign/bench/internal/loadrun"
)

// The CPU accounting rounds say where a transfer's CPU goes: on a machine whose client, gateway
// and service share a few cores, a gateway's ratio is decided by the CPU it adds per byte, and
// by what it makes the others spend. Each round PUTs and GETs one object through each target
// with a client in this process (presignload's way: presigned URLs, 256 KiB transport buffers,
// CRC-32C of the download) and reads the CPU time of SeaweedFS, the gateway and this process
// from /proc before and after each phase.

// cpuTarget is an endpoint the CPU rounds send to.
type cpuTarget struct {
	name, endpoint, accessKey, secretKey, bucket string
}

// cpuSample is one phase of one round: its throughput and the CPU seconds per GB moved that
// SeaweedFS, the gateway and the client spent.
type cpuSample struct {
	mbps, seaweed, gateway, client float64
}

// processCPU is the user plus system CPU time a process has used, in seconds.
func processCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which may hold spaces, start after its ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return (utime + stime) / 100, nil // in clock ticks, USER_HZ = 100 on Linux
}

// cpuRounds runs the accounting rounds and prints their medians.
func cpuRounds(ctx context.Context, rounds int, size int64, targets []cpuTarget, seaweedPID, gatewayPID int) error {
	hc := &http.Client{Transport: &http.Transport{WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10, DisableCompression: true}}
	pids := []int{seaweedPID, gatewayPID, os.Getpid()}
	measure := func(do func() error) (cpuSample, error) {
		// The previous round's writes do not land in this one.
		if err := exec.Command("sync").Run(); err != nil {
			return cpuSample{}, fmt.Errorf("sync: %w", err)
		}
		var before [3]float64
		for i, pid := range pids {
			var err error
			if before[i], err = processCPU(pid); err != nil {
				return cpuSample{}, err
			}
		}
		start := time.Now()
		if err := do(); err != nil {
			return cpuSample{}, err
		}
		secs := time.Since(start).Seconds()
		var per [3]float64
		for i, pid := range pids {
			after, err := processCPU(pid)
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
			client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(t.endpoint), UsePathStyle: true,
				Credentials: credentials.NewStaticCredentialsProvider(t.accessKey, t.secretKey, "")})
			// The bucket exists already unless no presignload round made it.
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &t.bucket}); err != nil {
				var ae smithy.APIError
				if !errors.As(err, &ae) || (ae.ErrorCode() != "BucketAlreadyOwnedByYou" && ae.ErrorCode() != "BucketAlreadyExists") {
					return fmt.Errorf("%s: create bucket %s: %w", t.name, t.bucket, err)
				}
			}
			presign := s3.NewPresignClient(client)
			objKey := fmt.Sprintf("cpu/%d", time.Now().UnixNano())
			in := &s3.PutObjectInput{Bucket: &t.bucket, Key: &objKey}
			put, err := presign.PresignPutObject(ctx, in)
			if err != nil {
				return err
			}
			var sent uint32
			s, err := measure(func() error {
				body := &patternBody{left: size}
				err := send(ctx, hc, put.URL, body, size)
				sent = body.crc
				return err
			})
			if err != nil {
				return fmt.Errorf("%s PUT: %w", t.name, err)
			}
			samples[key{t.name, "put"}] = append(samples[key{t.name, "put"}], s)
			get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &t.bucket, Key: &objKey})
			if err != nil {
				return err
			}
			s, err = measure(func() error { return fetch(ctx, hc, get.URL, size, sent) })
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
			med := func(f func(cpuSample) float64) float64 { return loadrun.Median(ss, f) }
			fmt.Printf("| %s through %s | %.0f | %.2f | %.2f | %.2f |\n", phase, t.name, med(func(s cpuSample) float64 { return s.mbps }),
				med(func(s cpuSample) float64 { return s.seaweed }), med(func(s cpuSample) float64 { return s.gateway }), med(func(s cpuSample) float64 { return s.client }))
		}
	}
	return nil
}

// send PUTs size bytes of body to a presigned URL.
func send(ctx context.Context, hc *http.Client, url string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	return nil
}

// fetch GETs a presigned URL and checks that it returns size bytes with CRC-32C want.
func fetch(ctx context.Context, hc *http.Client, url string, size int64, want uint32) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	n, err := io.CopyBuffer(h, resp.Body, make([]byte, 1<<20))
	if err != nil {
		return err
	}
	if n != size || h.Sum32() != want {
		return fmt.Errorf("got %d bytes with CRC-32C %08x, sent %d with %08x", n, h.Sum32(), size, want)
	}
	return nil
}

// patternBody is left bytes of a fixed 1 MiB block of noise, with their CRC-32C.
type patternBody struct {
	left  int64
	crc   uint32
	block []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (p *patternBody) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if p.block == nil {
		p.block = make([]byte, 1<<20)
		x := uint64(0x9E3779B97F4A7C15)
		for i := range p.block {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			p.block[i] = byte(x)
		}
	}
	n := copy(b, p.block[:min(int64(len(p.block)), p.left)])
	p.crc = crc32.Update(p.crc, castagnoli, b[:n])
	p.left -= int64(n)
	return n, nil
}
