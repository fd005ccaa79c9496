//go:build linux

// Command soak runs `presign serve` under mixed load for a long time and watches it for leaks
// and for what slow clients cost everyone else. Workers, each its own user, loop over tickets,
// PUTs of 4 KiB and of 64 KiB to 64 MiB, completions, downloads and deletes; in every other
// phase 200 slow clients (bodies trickled to both planes, downloads never read) hold
// connections until the server cuts them, and reconnect. Every -interval it prints the
// server's RSS (anonymous and file-backed), Go heap in use, goroutines, open files and the
// disk its data directory takes, and the p99 of tickets and 4 KiB PUTs in that phase; at the
// end, the median p99 of the phases with and without slow clients and the errors by kind.
//
//	go build -o /tmp/presign ./cmd/presign
//	go run ./bench/soak -presign /tmp/presign -duration 10m
//
// Each worker keeps at most -keep files of at most -keep-bytes in all, deleting its oldest
// through the API before an upload would pass either, so that the live set, and the disk the
// run takes, stay bounded however long it runs: a leak shows as growth the live set cannot
// explain. The environment reaches the server, so PRESIGN_PPROF=127.0.0.1:6061 lets it be
// profiled during the run.
//
// Errors are counted per kind: a worker's error is a failure of the server; the slow clients'
// being cut off is what they earn, and is counted apart.
//
// It reads the server's memory and open files from /proc, so it builds on Linux only.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"presign/bench/internal/stats"
)

// config is the run's shape, from the flags.
type config struct {
	bin                string
	duration, interval time.Duration
	workers, slow      int
	// slowKinds are the kinds of slow client that run (indexes into slowKinds), taken in
	// turn by the slow clients.
	slowKinds []int
	// smallPut is the size of half the uploads, those whose p99 is compared; the others are
	// log-uniform from minPut to maxPut.
	smallPut, minPut, maxPut int64
	// keep and keepBytes bound each worker's live set.
	keep      int
	keepBytes int64
	// urlTTL is the workers' URL lifetime, which is how long the node remembers each upload
	// URL's nonce: the nonces held, and the index pages they take, grow for that long.
	urlTTL time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.bin, "presign", "presign", "the presign binary to serve with")
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the load runs")
	flag.DurationVar(&c.interval, "interval", 30*time.Second, "length of a phase; slow clients come in every other one")
	flag.IntVar(&c.workers, "workers", 8, "concurrent workers, one user each")
	flag.IntVar(&c.slow, "slow-clients", 200, "slow clients in the phases with them")
	kinds := flag.String("slow-kinds", "login,form,download", "the kinds of slow client, taken in turn: login (a login body trickled to the control plane), form (a form's fields trickled to the node), download (a download never read)")
	flag.Int64Var(&c.smallPut, "small-put", 4<<10, "size of half the PUTs, whose p99 is reported")
	flag.Int64Var(&c.minPut, "min-put", 64<<10, "smallest of the other PUTs (log-uniform up to -max-put)")
	flag.Int64Var(&c.maxPut, "max-put", 64<<20, "largest PUT")
	flag.IntVar(&c.keep, "keep", 64, "most files a worker keeps; it deletes its oldest before uploading past it")
	flag.Int64Var(&c.keepBytes, "keep-bytes", 256<<20, "most bytes a worker keeps (at least -max-put); it deletes its oldest before uploading past it")
	flag.DurationVar(&c.urlTTL, "url-ttl", 2*time.Minute, "lifetime of the workers' URLs (whole seconds), so also how long the node keeps their nonces")
	flag.Parse()
	k, err := parseSlowKinds(*kinds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	c.slowKinds = k
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func (c config) check() error {
	switch {
	case c.workers < 1 || c.keep < 1:
		return errors.New("-workers and -keep must be at least 1")
	case c.urlTTL < time.Second || c.urlTTL%time.Second != 0:
		return errors.New("-url-ttl must be whole seconds, at least 1s")
	case c.smallPut < 0 || c.minPut < 1 || c.maxPut < c.minPut:
		return errors.New("sizes: need 0 <= -small-put and 1 <= -min-put <= -max-put")
	case c.keepBytes < max(c.maxPut, c.smallPut):
		return errors.New("-keep-bytes must hold at least one file of -max-put")
	}
	return nil
}

const adminPassword = "soak-admin-password"

func run(c config) error {
	data, err := os.MkdirTemp("", "presign-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	srv, err := startServe(c.bin, filepath.Join(data, "d"))
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("presign serve pid %d: control plane %s, storage node %s\n", srv.pid, srv.control, srv.storage)
	fmt.Printf("%d workers keep at most %d files, %s each (the run's live set at most %s); their URLs live %s\n",
		c.workers, c.keep, byteSize(c.keepBytes), byteSize(int64(c.workers)*c.keepBytes), c.urlTTL)

	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	load, err := newLoad(ctx, srv, c)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range c.workers {
		wg.Go(func() { load.work(ctx, i) })
	}
	small := byteSize(c.smallPut)
	var phases []phase
	for n := 0; ctx.Err() == nil; n++ {
		withSlow := n%2 == 1
		pctx, pcancel := context.WithTimeout(ctx, c.interval)
		var swg sync.WaitGroup
		if withSlow {
			for i := range c.slow {
				swg.Go(func() { load.slowClient(pctx, c.slowKinds[i%len(c.slowKinds)]) })
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
		f := srv.figures(data)
		fmt.Printf("%6s phase %2d slow=%-5v rss %6.1f MiB (anon %5.1f, file %5.1f; Go runtime %5.1f, heap %5.1f)  goroutines %4d  open files %4d  disk %7.1f MiB | tickets %5d p99 %7.2f ms | %s PUTs %5d p99 %7.2f ms | big PUTs %4d downloads %4d deletes %4d | errors %d, slow clients cut %d\n",
			time.Since(load.start).Truncate(time.Second), n+1, withSlow, mib(f.rss), mib(f.rssAnon), mib(f.rssFile), mib(f.goSys), mib(f.heap), f.goroutines, f.fds, mib(f.disk),
			ph.tickets, ms(ph.p99Ticket), small, ph.smallPuts, ms(ph.p99Put), ph.bigPuts, ph.downloads, ph.deletes, ph.errors, ph.slowCut)
	}
	wg.Wait()
	for _, e := range load.firstErrors() {
		fmt.Println("error:", e)
	}
	for _, k := range load.errorKinds() {
		fmt.Printf("worker errors: %6d %s\n", k.n, k.kind)
	}
	for _, k := range load.cutKinds() {
		fmt.Printf("slow clients cut: %6d %s\n", k.n, k.kind)
	}
	with := slices.DeleteFunc(slices.Clone(phases), func(p phase) bool { return !p.withSlow })
	without := slices.DeleteFunc(slices.Clone(phases), func(p phase) bool { return p.withSlow })
	med := func(ps []phase, f func(phase) time.Duration) float64 {
		return stats.Median(ps, func(p phase) float64 { return ms(f(p)) })
	}
	fmt.Printf("median p99 over %d phases without / %d with %d slow clients: tickets %.2f / %.2f ms, %s PUTs %.2f / %.2f ms; worker errors %d\n",
		len(without), len(with), c.slow,
		med(without, func(p phase) time.Duration { return p.p99Ticket }), med(with, func(p phase) time.Duration { return p.p99Ticket }),
		small, med(without, func(p phase) time.Duration { return p.p99Put }), med(with, func(p phase) time.Duration { return p.p99Put }),
		load.totalErrors())
	tw, pw, nw := load.pooledP99(false)
	ts, ps, ns := load.pooledP99(true)
	fmt.Printf("p99 of all %d / %d tickets of the phases without / with slow clients: tickets %.2f / %.2f ms (%+.1f %%), %s PUTs %.2f / %.2f ms (%+.1f %%)\n",
		nw, ns, ms(tw), ms(ts), change(tw, ts), small, ms(pw), ms(ps), change(pw, ps))
	return nil
}

// change is how much larger b is than a, in percent.
func change(a, b time.Duration) float64 {
	if a == 0 {
		return 0
	}
	return 100 * (float64(b) - float64(a)) / float64(a)
}

// parseSlowKinds reads -slow-kinds: the first words of slowKinds, comma-separated.
func parseSlowKinds(s string) ([]int, error) {
	var kinds []int
	for _, name := range strings.Split(s, ",") {
		i := slices.IndexFunc(slowKinds[:], func(k string) bool { return strings.HasPrefix(k, strings.TrimSpace(name)+" ") })
		if i < 0 {
			return nil, fmt.Errorf("-slow-kinds: %q is not login, form or download", name)
		}
		kinds = append(kinds, i)
	}
	return kinds, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// byteSize names a byte count the way the flags' defaults read: 4 KiB, 64 MiB, 1.5 GiB.
func byteSize(b int64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', -1, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', -1, 64) + " MiB"
	case b >= 1<<10:
		return strconv.FormatFloat(float64(b)/(1<<10), 'f', -1, 64) + " KiB"
	}
	return strconv.FormatInt(b, 10) + " B"
}

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

// figures is what the server takes at one moment.
type figures struct {
	// rss is rssAnon (the Go runtime's memory, and SQLite's, which it allocates outside the Go
	// heap) plus rssFile (mapped files: the binary and the storage index, which bbolt maps)
	// plus shared memory. goSys is what the Go runtime holds from the system less what it has
	// given back (an upper bound on its part of rssAnon); heap is the Go heap's spans in use.
	rss, rssAnon, rssFile, goSys, heap int64
	goroutines, fds                    int
	// disk is what the files under the data directory take on disk.
	disk int64
}

// figures reads the server's memory and open files from /proc, its goroutines and heap from
// its metrics, and the disk that data takes.
func (s *server) figures(data string) figures {
	var f figures
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			name, v, _ := strings.Cut(line, ":")
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			switch name {
			case "VmRSS":
				f.rss = kb << 10
			case "RssAnon":
				f.rssAnon = kb << 10
			case "RssFile":
				f.rssFile = kb << 10
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid)); err == nil {
		f.fds = len(ents)
	}
	m := metricValues(s.storage+"/_presign/metrics", "go_goroutines", "go_memstats_heap_inuse_bytes",
		"go_memstats_sys_bytes", "go_memstats_heap_released_bytes")
	f.goroutines, f.heap, f.goSys = int(m[0]), int64(m[1]), int64(m[2]-m[3])
	f.disk = diskUse(data)
	return f
}

// diskUse is the space the files under dir take (allocated blocks, so a sparse or preallocated
// file counts for what it holds on disk); files removed during the walk are skipped.
func diskUse(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
