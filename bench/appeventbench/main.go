// Command appeventbench measures application-event delivery of "presign serve" (one process,
// SQLite) to a fast local webhook receiver, in two scenarios:
//
//   - latency: uploads are sent at -rate per second for -duration; for each one it measures
//     the time from the storage node's answer to the last byte's PUT (the acknowledgement) to
//     the receiver getting the upload's upload.completed event, and prints p50, p90, p99 and
//     the maximum.
//   - throughput: with delivery off, -uploads uploads end while -endpoints configured webhooks
//     subscribe, which leaves uploads×endpoints deliveries durable in the outbox; the process
//     is then restarted with delivery on, and the rate at which the receiver gets them is the
//     sustained deliveries per second.
//
// It builds the presign binary itself and runs it on free ports in a temporary directory.
//
//	go run ./bench/appeventbench                       # both scenarios, 3 rounds each
//	go run ./bench/appeventbench -only latency -rate 200 -duration 10s
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	adminPassword = "appeventbench-admin"
	eventSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func main() {
	only := flag.String("only", "", "run one scenario: latency or throughput")
	rate := flag.Int("rate", 200, "latency: uploads per second")
	duration := flag.Duration("duration", 10*time.Second, "latency: length of a round")
	uploads := flag.Int("uploads", 1000, "throughput: uploads whose events are delivered")
	endpoints := flag.Int("endpoints", 10, "throughput: configured webhooks, each receiving every event")
	rounds := flag.Int("rounds", 3, "rounds of each scenario; medians are printed at the end")
	flag.Parse()
	if err := run(*only, *rate, *duration, *uploads, *endpoints, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "appeventbench:", err)
		os.Exit(1)
	}
}

func run(only string, rate int, duration time.Duration, uploads, endpoints, rounds int) error {
	work, err := os.MkdirTemp("", "appeventbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "presign")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presign").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	fmt.Printf("machine: %d CPUs; presign serve, SQLite, one process\n", numCPU())
	var lat [][4]time.Duration
	var thr []float64
	for r := 1; r <= rounds; r++ {
		if only == "" || only == "latency" {
			q, err := latencyRound(bin, filepath.Join(work, fmt.Sprintf("lat%d", r)), rate, duration)
			if err != nil {
				return fmt.Errorf("latency round %d: %w", r, err)
			}
			fmt.Printf("round %d latency at %d uploads/s: p50 %v  p90 %v  p99 %v  max %v\n", r, rate, q[0], q[1], q[2], q[3])
			lat = append(lat, q)
		}
		if only == "" || only == "throughput" {
			n, err := throughputRound(bin, filepath.Join(work, fmt.Sprintf("thr%d", r)), uploads, endpoints)
			if err != nil {
				return fmt.Errorf("throughput round %d: %w", r, err)
			}
			fmt.Printf("round %d throughput: %.0f deliveries/s (%d deliveries)\n", r, n, uploads*endpoints)
			thr = append(thr, n)
		}
	}
	if len(lat) > 0 {
		var m [4]time.Duration
		for i := range m {
			var v []time.Duration
			for _, q := range lat {
				v = append(v, q[i])
			}
			slices.Sort(v)
			m[i] = v[len(v)/2]
		}
		fmt.Printf("median latency at %d uploads/s: p50 %v  p90 %v  p99 %v  max %v\n", rate, m[0], m[1], m[2], m[3])
	}
	if len(thr) > 0 {
		slices.Sort(thr)
		fmt.Printf("median throughput: %.0f deliveries/s\n", thr[len(thr)/2])
	}
	return nil
}

// receiver is the application's webhook: it answers 204 at once and notes when each event id
// first arrived, and for upload.completed the upload it is about.
type receiver struct {
	srv      *http.Server
	url      string
	mu       sync.Mutex
	first    map[string]time.Time // event id → first arrival
	upload   map[string]time.Time // upload id → arrival of its upload.completed
	count    atomic.Int64
	lastSeen atomic.Int64 // unix nanos of the latest first arrival
}

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String(), first: map[string]time.Time{}, upload: map[string]time.Time{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve)}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id") + req.URL.Path // one delivery per endpoint
	var ev struct {
		Type string `json:"type"`
		Data struct {
			UploadID string `json:"upload_id"`
		} `json:"data"`
	}
	json.Unmarshal(body, &ev)
	r.mu.Lock()
	if _, dup := r.first[id]; !dup {
		r.first[id] = now
		r.count.Add(1)
		r.lastSeen.Store(now.UnixNano())
		if ev.Type == "upload.completed" {
			if _, ok := r.upload[ev.Data.UploadID]; !ok {
				r.upload[ev.Data.UploadID] = now
			}
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) arrival(uploadID string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.upload[uploadID]
	return t, ok
}

// server is a running presign serve.
type server struct {
	cmd     *exec.Cmd
	control string
	done    chan error
}

var listening = regexp.MustCompile(`msg="([^"]+) listening" url=(\S+)`)

func startServe(bin, data string, args ...string) (*server, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0",
		"--ticket-rate", "0", "--app-event-secret", eventSecret}, args...)...)
	cmd.Env = append(os.Environ(), "PRESIGN_ADMIN_PASSWORD="+adminPassword)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && m[1] == "control plane" {
				select {
				case found <- m[2]:
				default:
				}
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.control = <-found:
	case err := <-s.done:
		return nil, fmt.Errorf("presign serve exited: %v", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("presign serve did not start")
	}
	for range 200 {
		if resp, err := http.Get(s.control + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("presign serve never ready")
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

var hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: time.Minute}

func call(base, token, method, path string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// user logs in as a fresh user with no limits.
func user(base string) (string, error) {
	var admin struct{ Token string }
	if err := call(base, "", "POST", "/v1/login", map[string]string{"username": "admin", "password": adminPassword}, &admin, 200); err != nil {
		return "", err
	}
	name := fmt.Sprintf("bench%d", time.Now().UnixNano())
	policy := map[string]any{"max_pending_uploads": 0, "quota_bytes": 0, "max_object_bytes": 0}
	if err := call(base, admin.Token, "POST", "/v1/users", map[string]any{"username": name, "password": name + "-pw", "policy": policy}, nil, 201); err != nil {
		return "", err
	}
	var s struct{ Token string }
	err := call(base, "", "POST", "/v1/login", map[string]string{"username": name, "password": name + "-pw"}, &s, 200)
	return s.Token, err
}

type ticket struct {
	ID      string            `json:"id"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// tickets issues n single-PUT tickets of small text files.
func tickets(base, token string, n int) ([]ticket, error) {
	out := make([]ticket, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range out {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = call(base, token, "POST", "/v1/uploads", map[string]any{"filename": fmt.Sprintf("f%d.txt", i),
				"size": 16, "content_type": "text/plain"}, &out[i], 201)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// put sends the ticket's 16 bytes and returns when the storage node acknowledged them.
func put(t ticket) (time.Time, error) {
	req, err := http.NewRequest("PUT", t.URL, strings.NewReader("0123456789abcdef"))
	if err != nil {
		return time.Time{}, err
	}
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ack := time.Now()
	if resp.StatusCode != 200 {
		return ack, fmt.Errorf("PUT: %s", resp.Status)
	}
	return ack, nil
}

// latencyRound sends rate uploads per second for duration, open loop, and returns the p50,
// p90, p99 and maximum of acknowledgement-to-event times.
func latencyRound(bin, data string, rate int, duration time.Duration) ([4]time.Duration, error) {
	var q [4]time.Duration
	rcv, err := newReceiver()
	if err != nil {
		return q, err
	}
	defer rcv.srv.Close()
	srv, err := startServe(bin, data, "--app-webhook", rcv.url+"/hook")
	if err != nil {
		return q, err
	}
	defer srv.stop()
	token, err := user(srv.control)
	if err != nil {
		return q, err
	}
	n := rate * int(duration/time.Second)
	ts, err := tickets(srv.control, token, n)
	if err != nil {
		return q, err
	}
	acks := make([]time.Time, n)
	errs := make([]error, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range ts {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() { acks[i], errs[i] = put(ts[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return q, err
	}
	deadline := time.Now().Add(30 * time.Second)
	var lat []time.Duration
	for i, t := range ts {
		for {
			at, ok := rcv.arrival(t.ID)
			if ok {
				lat = append(lat, at.Sub(acks[i]))
				break
			}
			if time.Now().After(deadline) {
				return q, fmt.Errorf("upload %s: no upload.completed within 30 s", t.ID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if os.Getenv("APPEVENTBENCH_METRICS") != "" {
		if resp, err := hc.Get(srv.control + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "presign_control_app_event_delay_seconds") || strings.HasPrefix(l, "presign_control_request_seconds_sum") ||
					strings.HasPrefix(l, "presign_control_request_seconds_count") {
					fmt.Println("  ", l)
				}
			}
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return [4]time.Duration{pct(.50), pct(.90), pct(.99), lat[len(lat)-1]}, nil
}

// throughputRound fills the outbox with uploads×endpoints deliveries while delivery is off,
// restarts with delivery on, and returns the deliveries per second from the first to the last.
func throughputRound(bin, data string, uploads, endpoints int) (float64, error) {
	rcv, err := newReceiver()
	if err != nil {
		return 0, err
	}
	defer rcv.srv.Close()
	var args []string
	for i := range endpoints {
		args = append(args, "--app-webhook", fmt.Sprintf("%s/hook%d", rcv.url, i))
	}
	srv, err := startServe(bin, data, append(args, "--app-event-delivery=false")...)
	if err != nil {
		return 0, err
	}
	token, err := user(srv.control)
	if err != nil {
		srv.stop()
		return 0, err
	}
	ts, err := tickets(srv.control, token, uploads)
	if err != nil {
		srv.stop()
		return 0, err
	}
	sem := make(chan struct{}, 32)
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i := range ts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = put(ts[i])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		srv.stop()
		return 0, err
	}
	// Every upload must have ended (and so written its events) before the restart.
	for _, t := range ts {
		var u struct{ State string }
		if err := call(srv.control, token, "GET", "/v1/uploads/"+t.ID+"?wait=30s", nil, &u, 200); err != nil || u.State != "completed" {
			srv.stop()
			return 0, fmt.Errorf("upload %s: %s %v", t.ID, u.State, err)
		}
	}
	srv.stop()
	want := int64(uploads * endpoints)
	start := time.Now()
	srv, err = startServe(bin, data, args...)
	if err != nil {
		return 0, err
	}
	defer srv.stop()
	cpu0, _ := srv.cpu()
	if addr, out := os.Getenv("PRESIGN_PPROF"), os.Getenv("APPEVENTBENCH_CPUPROFILE"); addr != "" && out != "" {
		go saveProfile("http://"+addr+"/debug/pprof/profile?seconds=5", out)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for rcv.count.Load() < want {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d deliveries after 5 min", rcv.count.Load(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rcv.mu.Lock()
	first := time.Now()
	for _, t := range rcv.first {
		if t.Before(first) && t.After(start) {
			first = t
		}
	}
	rcv.mu.Unlock()
	last := time.Unix(0, rcv.lastSeen.Load())
	if cpu, err := srv.cpu(); err == nil {
		cpu -= cpu0
		fmt.Printf("  control plane CPU: %.2f s for %d deliveries (%.0f deliveries per CPU-second)\n",
			cpu.Seconds(), want, float64(want)/cpu.Seconds())
	}
	return float64(want) / last.Sub(first).Seconds(), nil
}

// cpu returns the CPU time (user and system) the server process has used so far, from
// /proc: on a machine shared with other work, deliveries per CPU-second tell the cost apart
// from the contention.
func (s *server) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

func numCPU() int { return runtime.NumCPU() }

// saveProfile fetches a pprof profile of the running control plane (PRESIGN_PPROF) into out.
func saveProfile(url, out string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}
