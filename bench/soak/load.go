//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// load is the workers' and slow clients' shared state and the current phase's figures.
type load struct {
	srv    *server
	hc     *http.Client
	tokens []string
	cfg    config
	start  time.Time
	// dlURL is a download URL of a 16 MiB file for the slow clients that never read.
	dlMu  sync.Mutex
	dlURL string
	admin string
	bigID string

	mu      sync.Mutex
	cur     phase
	tickets []time.Duration
	puts    []time.Duration
	// pooled holds every phase's latencies by whether slow clients ran in it ([0] without,
	// [1] with): a percentile over all of a run's tickets is steadier than the median of the
	// phases' own, each of which rests on its slowest few dozen.
	pooled    [2]latencies
	errs      int
	firstErrs []string
	errKinds  map[string]int
	cuts      map[string]int
}

func newLoad(ctx context.Context, srv *server, cfg config) (*load, error) {
	workers := cfg.workers
	l := &load{srv: srv, cfg: cfg, start: time.Now(), errKinds: map[string]int{}, cuts: map[string]int{},
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * workers}, Timeout: 5 * time.Minute}}
	admin, err := l.login("admin", adminPassword)
	if err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	l.admin = admin
	run := rand.Text()[:6]
	for i := range workers {
		name := fmt.Sprintf("soak-%s-%02d", run, i)
		body := map[string]any{"username": name, "password": name + "-password",
			"policy": map[string]any{"max_pending_uploads": 0, "quota_bytes": 0, "max_object_bytes": 0, "allowed_content_types": []string{"*/*"},
				"url_ttl_seconds": int(cfg.urlTTL / time.Second)}}
		if err := l.call(ctx, admin, "POST", "/v1/users", body, http.StatusCreated, nil); err != nil {
			return nil, fmt.Errorf("create user: %w", err)
		}
		tok, err := l.login(name, name+"-password")
		if err != nil {
			return nil, err
		}
		l.tokens = append(l.tokens, tok)
	}
	id, err := l.upload(ctx, admin, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("the slow clients' file: %w", err)
	}
	l.bigID = id
	return l, nil
}

func (l *load) login(user, password string) (string, error) {
	var s struct{ Token string }
	err := l.call(context.Background(), "", "POST", "/v1/login", map[string]string{"username": user, "password": password}, http.StatusOK, &s)
	return s.Token, err
}

// call sends a JSON request to the control plane and decodes a want answer into out.
func (l *load) call(ctx context.Context, token, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.srv.control+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	op := method + " " + idPart.ReplaceAllString(path, "/v1/$1/{id}")
	resp, err := l.hc.Do(req)
	if err != nil {
		return transportError(op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return &kindError{kind: fmt.Sprintf("%s: %d", op, resp.StatusCode), err: fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)}
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// upload asks for a ticket, PUTs size bytes and completes the upload; it returns the file's id.
func (l *load) upload(ctx context.Context, token string, size int64) (string, error) {
	var tk struct {
		ID      string
		URL     string
		Method  string
		Headers map[string]string
	}
	t0 := time.Now()
	err := l.call(ctx, token, "POST", "/v1/uploads", map[string]any{"filename": "f.bin", "size": size, "content_type": "application/octet-stream"}, http.StatusCreated, &tk)
	ticket := time.Since(t0)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, tk.Method, tk.URL, io.LimitReader(zeros{}, size))
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	for k, v := range tk.Headers {
		req.Header.Set(k, v)
	}
	t1 := time.Now()
	resp, err := l.hc.Do(req)
	if err != nil {
		return "", transportError("PUT", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	put := time.Since(t1)
	if resp.StatusCode != http.StatusOK {
		return "", &kindError{kind: fmt.Sprintf("PUT: %d", resp.StatusCode), err: fmt.Errorf("PUT of %d bytes: %d %.200s", size, resp.StatusCode, raw)}
	}
	if err := l.call(ctx, token, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, http.StatusOK, nil); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.cur.tickets++
	l.tickets = append(l.tickets, ticket)
	if size == l.cfg.smallPut {
		l.cur.smallPuts++
		l.puts = append(l.puts, put)
	} else {
		l.cur.bigPuts++
	}
	l.mu.Unlock()
	return tk.ID, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// file is one of a worker's files.
type file struct {
	id   string
	size int64
}

// work is one worker's loop: half small uploads, some large ones, downloads and deletes of its
// own files. Before an upload that would take it past cfg.keep files or cfg.keepBytes it
// deletes its oldest files, so that what it holds stays bounded.
func (l *load) work(ctx context.Context, i int) {
	token := l.tokens[i]
	var files []file
	var held int64
	for ctx.Err() == nil {
		var err error
		switch r := mrand.IntN(100); {
		case r < 60 || len(files) == 0:
			size := l.cfg.smallPut
			if r >= 50 && r < 60 {
				// Log-uniform from minPut to maxPut: many medium files, a few large ones.
				size = min(int64(float64(l.cfg.minPut)*math.Exp(mrand.Float64()*math.Log(float64(l.cfg.maxPut)/float64(l.cfg.minPut)))), l.cfg.maxPut)
			}
			for len(files) > 0 && err == nil && (len(files) >= l.cfg.keep || held+size > l.cfg.keepBytes) {
				if err = l.delete(ctx, token, files[0].id); err == nil {
					held -= files[0].size
					files = slices.Delete(files, 0, 1)
				}
			}
			var id string
			if err == nil {
				if id, err = l.upload(ctx, token, size); err == nil {
					files = append(files, file{id, size})
					held += size
				}
			}
		case r < 85:
			err = l.download(ctx, token, files[mrand.IntN(len(files))].id)
		default:
			k := mrand.IntN(len(files))
			if err = l.delete(ctx, token, files[k].id); err == nil {
				held -= files[k].size
				files = slices.Delete(files, k, k+1)
			}
		}
		if err != nil && ctx.Err() == nil {
			l.fail(err)
		}
	}
}

func (l *load) delete(ctx context.Context, token, id string) error {
	err := l.call(ctx, token, "DELETE", "/v1/files/"+id, nil, http.StatusNoContent, nil)
	if err == nil {
		l.count(func(p *phase) { p.deletes++ })
	}
	return err
}

// fail counts a worker's error by its kind and keeps the first few in full.
func (l *load) fail(err error) {
	kind := "other"
	if ke := (*kindError)(nil); errors.As(err, &ke) {
		kind = ke.kind
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs++
	l.cur.errors++
	l.errKinds[kind]++
	if len(l.firstErrs) < 10 {
		l.firstErrs = append(l.firstErrs, err.Error())
	}
}

// kindError is an error with the kind it is counted under: the operation and the status, or
// what failed in transport.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// idPart is the id in a control-plane path, which the kind of an error leaves out.
var idPart = regexp.MustCompile(`/v1/(uploads|files)/[^/]+`)

func transportError(op string, err error) error {
	var what string
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		what = "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		what = "connection refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		what = "connection closed"
	case errors.As(err, &ne) && ne.Timeout():
		what = "timeout"
	default:
		what = "transport"
	}
	return &kindError{kind: op + ": " + what, err: err}
}

func (l *load) count(f func(*phase)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.cur)
}

func (l *load) download(ctx context.Context, token, id string) error {
	var d struct{ URL string }
	if err := l.call(ctx, token, "GET", "/v1/files/"+id+"/download", nil, http.StatusOK, &d); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", d.URL, nil)
	if err != nil {
		return err
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return transportError("GET download", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return transportError("GET download body", err)
	}
	if resp.StatusCode != http.StatusOK {
		return &kindError{kind: fmt.Sprintf("GET download: %d", resp.StatusCode), err: fmt.Errorf("download: %d", resp.StatusCode)}
	}
	l.count(func(p *phase) { p.downloads++ })
	return nil
}

// The slow clients' kinds.
const (
	slowLogin = iota
	slowForm
	slowDownload
)

// slowKinds names the slow clients' kinds (-slow-kinds takes the first word of each).
var slowKinds = [3]string{"login body trickled", "form fields trickled", "download never read"}

// slowClient holds a connection from 127.0.0.2 the way attackers do, of the given kind, and
// opens another each time the server cuts it, until ctx ends.
func (l *load) slowClient(ctx context.Context, kind int) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		var addr, head string
		switch kind {
		case slowLogin:
			addr, head = hostOf(l.srv.control), "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
		case slowForm:
			addr, head = hostOf(l.srv.storage), "POST /presign HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n"
		default:
			u, err := l.downloadURL(ctx)
			if err != nil {
				return
			}
			addr = hostOf(l.srv.storage)
			head = "GET " + strings.TrimPrefix(u, l.srv.storage) + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		if kind == slowDownload {
			c.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		_, err = io.WriteString(c, head)
		for err == nil && ctx.Err() == nil {
			if kind == slowDownload {
				// Never read: held until the phase ends. (Whether the server cut it shows
				// only once what it sent has been read, which would make it fast.)
				<-ctx.Done()
				break
			}
			time.Sleep(2 * time.Second)
			_, err = c.Write([]byte{'k'})
		}
		stop()
		c.Close()
		if ctx.Err() == nil {
			l.mu.Lock()
			l.cur.slowCut++
			l.cuts[slowKinds[kind]]++
			l.mu.Unlock()
		}
	}
}

func (l *load) downloadURL(ctx context.Context) (string, error) {
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	if l.dlURL == "" {
		var d struct{ URL string }
		if err := l.call(ctx, l.admin, "GET", "/v1/files/"+l.bigID+"/download", nil, http.StatusOK, &d); err != nil {
			return "", err
		}
		l.dlURL = d.URL
		time.AfterFunc(time.Minute, func() { l.dlMu.Lock(); l.dlURL = ""; l.dlMu.Unlock() })
	}
	return l.dlURL, nil
}

func hostOf(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://") }

func (l *load) resetPhase() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur, l.tickets, l.puts = phase{}, nil, nil
}

func (l *load) endPhase(withSlow bool) phase {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.cur
	p.withSlow = withSlow
	p.p99Ticket, p.p99Put = p99(l.tickets), p99(l.puts)
	pool := &l.pooled[0]
	if withSlow {
		pool = &l.pooled[1]
	}
	pool.tickets = append(pool.tickets, l.tickets...)
	pool.puts = append(pool.puts, l.puts...)
	return p
}

// latencies are the tickets' and small PUTs' latencies of some phases.
type latencies struct{ tickets, puts []time.Duration }

// pooledP99 is the p99 of all tickets and of all small PUTs of the phases without
// (withSlow false) or with slow clients.
func (l *load) pooledP99(withSlow bool) (tickets, puts time.Duration, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pool := l.pooled[0]
	if withSlow {
		pool = l.pooled[1]
	}
	return p99(pool.tickets), p99(pool.puts), len(pool.tickets)
}

func (l *load) firstErrors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstErrs
}

// counted is one kind of error and how many there were.
type counted struct {
	kind string
	n    int
}

func (l *load) errorKinds() []counted {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sortedCounts(l.errKinds)
}

func (l *load) cutKinds() []counted {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sortedCounts(l.cuts)
}

// sortedCounts lists m, most frequent first.
func sortedCounts(m map[string]int) []counted {
	var cs []counted
	for k, n := range m {
		cs = append(cs, counted{k, n})
	}
	slices.SortFunc(cs, func(a, b counted) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.kind, b.kind)
	})
	return cs
}

func (l *load) totalErrors() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs
}

// metricValues reads unlabelled metrics of a Prometheus text endpoint, in the order of names;
// 0 for one absent.
func metricValues(u string, names ...string) []float64 {
	vs := make([]float64, len(names))
	resp, err := http.Get(u)
	if err != nil {
		return vs
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, _ := strings.Cut(sc.Text(), " ")
		if i := slices.Index(names, name); i >= 0 {
			vs[i], _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return vs
}
