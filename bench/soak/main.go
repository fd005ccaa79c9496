// Command soak runs `presign serve` under mixed load for a long time and watches it for leaks
// and for what slow clients cost everyone else. Workers, each its own user, loop over tickets,
// PUTs of 4 KiB and of 64 KiB to 64 MiB, completions, downloads and deletes; in every other
// phase 200 slow clients (bodies trickled to both planes, downloads never read) hold
// connections until the server cuts them, and reconnect. Every -interval it prints the
// server's RSS, goroutines and open files, and the p99 of tickets and 4 KiB PUTs in that phase;
// at the end, the median p99 of the phases with and without slow clients.
//
//	go build -o /tmp/presign ./cmd/presign
//	go run ./bench/soak -presign /tmp/presign -duration 10m
//
// Errors are counted per kind: a worker's error is a failure of the server; the slow clients'
// being cut off is what they earn, and is counted apart.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"presign/bench/internal/stats"
)

func main() {
	bin := flag.String("presign", "presign", "the presign binary to serve with")
	duration := flag.Duration("duration", 10*time.Minute, "how long the load runs")
	interval := flag.Duration("interval", 30*time.Second, "length of a phase; slow clients come in every other one")
	workers := flag.Int("workers", 8, "concurrent workers, one user each")
	slow := flag.Int("slow-clients", 200, "slow clients in the phases with them")
	maxPut := flag.Int64("max-put", 64<<20, "largest PUT")
	flag.Parse()
	if err := run(*bin, *duration, *interval, *workers, *slow, *maxPut); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

const adminPassword = "soak-admin-password"

func run(bin string, duration, interval time.Duration, workers, slowClients int, maxPut int64) error {
	data, err := os.MkdirTemp("", "presign-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	srv, err := startServe(bin, filepath.Join(data, "d"))
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("presign serve pid %d: control plane %s, storage node %s\n", srv.pid, srv.control, srv.storage)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	load, err := newLoad(ctx, srv, workers, maxPut)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { load.work(ctx, i) })
	}
	var phases []phase
	for n := 0; ctx.Err() == nil; n++ {
		withSlow := n%2 == 1
		pctx, pcancel := context.WithTimeout(ctx, interval)
		var swg sync.WaitGroup
		if withSlow {
			for i := range slowClients {
				swg.Go(func() { load.slowClient(pctx, i) })
			}
		}
		load.resetPhase()
		<-pctx.Done()
		pcancel()
		swg.Wait()
		ph := load.endPhase(withSlow)
		if ctx.Err() != nil && len(phases) > 0 && ph.tickets < 10 {
			break // a phase cut short at the end says little
		}
		phases = append(phases, ph)
		rss, fds, gor := srv.figures()
		fmt.Printf("%6s phase %2d slow=%-5v rss %6.1f MiB  goroutines %5d  open files %5d | tickets %5d p99 %7.2f ms | 4 KiB PUTs %5d p99 %7.2f ms | big PUTs %4d downloads %4d deletes %4d | errors %d, slow clients cut %d\n",
			time.Since(load.start).Truncate(time.Second), n+1, withSlow, rss, gor, fds, ph.tickets, ms(ph.p99Ticket), ph.smallPuts, ms(ph.p99Put),
			ph.bigPuts, ph.downloads, ph.deletes, ph.errors, ph.slowCut)
	}
	wg.Wait()
	for _, e := range load.firstErrors() {
		fmt.Println("error:", e)
	}
	with := slices.DeleteFunc(slices.Clone(phases), func(p phase) bool { return !p.withSlow })
	without := slices.DeleteFunc(slices.Clone(phases), func(p phase) bool { return p.withSlow })
	med := func(ps []phase, f func(phase) time.Duration) float64 {
		return stats.Median(ps, func(p phase) float64 { return ms(f(p)) })
	}
	fmt.Printf("median p99 over %d phases without / %d with %d slow clients: tickets %.2f / %.2f ms, 4 KiB PUTs %.2f / %.2f ms; worker errors %d\n",
		len(without), len(with), slowClients,
		med(without, func(p phase) time.Duration { return p.p99Ticket }), med(with, func(p phase) time.Duration { return p.p99Ticket }),
		med(without, func(p phase) time.Duration { return p.p99Put }), med(with, func(p phase) time.Duration { return p.p99Put }),
		load.totalErrors())
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// phase is what one interval measured.
type phase struct {
	withSlow                                        bool
	tickets, smallPuts, bigPuts, downloads, deletes int
	p99Ticket, p99Put                               time.Duration
	errors, slowCut                                 int
}

func p99(xs []time.Duration) time.Duration {
	slices.Sort(xs)
	return stats.Percentile(xs, 99)
}

// server is a running `presign serve`.
type server struct {
	cmd              *exec.Cmd
	pid              int
	control, storage string
}

var listening = regexp.MustCompile(`msg="([^"]+) listening" url=(\S+)`)

func startServe(bin, data string) (*server, error) {
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0", "--ticket-rate", "0")
	cmd.Env = append(os.Environ(), "PRESIGN_ADMIN_PASSWORD="+adminPassword)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			m := listening.FindStringSubmatch(sc.Text())
			switch {
			case m == nil:
				continue
			case m[1] == "control plane":
				s.control = m[2]
			case m[1] == "storage node":
				s.storage = m[2]
			}
			if s.control != "" && s.storage != "" && ready != nil {
				close(ready)
				ready = nil
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("presign serve did not start listening")
	}
	return s, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
	}
}

// figures reads the server's RSS (MiB) and open files from /proc and its goroutines from its
// metrics.
func (s *server) figures() (rss float64, fds, goroutines int) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb float64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				rss = kb / 1024
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid)); err == nil {
		fds = len(ents)
	}
	goroutines = metricValue(s.storage+"/_presign/metrics", "go_goroutines")
	return rss, fds, goroutines
}
