// Command ticketbench measures upload-ticket issuance of a running control plane: -clients
// concurrent clients, each logged in beforehand as its own user (created through the admin API
// with unlimited quota and pending uploads), ask for single-PUT tickets for -duration. It
// prints tickets/s and the p50 and p99 latency of each round, and their medians.
//
//	presign serve --ticket-rate 0 &     # or a control plane with a generous --ticket-rate
//	go run ./bench/ticketbench -url http://127.0.0.1:8080 -admin-password "$PRESIGN_ADMIN_PASSWORD"
//
// Every ticket answered 201 has been recorded durably by the control plane before the answer.
//
// With -route companion the clients ask what Uppy's S3 plugin asks of presign's
// Companion-compatible routes, each with an upload token of its own user: form parameters for
// a small file (GET s3/params, which records an upload of unknown size) and part URLs of a
// multipart upload (GET s3/multipart/{id}/{n}), alternately. Answers of both kinds count.
//
//	go run ./bench/ticketbench -route companion -url http://127.0.0.1:8080
//
// Several replicas of one control plane (sharing a PostgreSQL database) are measured together
// by giving their URLs separated by commas: the clients are spread over them in turn.
//
//	go run ./bench/ticketbench -url http://127.0.0.1:8080,http://127.0.0.1:8081
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"presign/bench/internal/stats"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "the control plane; several replicas' URLs separated by commas")
	adminPassword := flag.String("admin-password", os.Getenv("PRESIGN_ADMIN_PASSWORD"), "password of the admin user (default $PRESIGN_ADMIN_PASSWORD)")
	clients := flag.Int("clients", 64, "concurrent clients, one user each")
	duration := flag.Duration("duration", 10*time.Second, "length of one round")
	rounds := flag.Int("rounds", 3, "rounds; medians are printed at the end")
	route := flag.String("route", "tickets", "what the clients ask for: tickets (POST /v1/uploads) or companion (Uppy's s3/params and part URLs, with upload tokens)")
	flag.Parse()
	if *route != "tickets" && *route != "companion" {
		fmt.Fprintln(os.Stderr, "ticketbench: -route must be tickets or companion")
		os.Exit(2)
	}
	if err := run(strings.Split(*base, ","), *adminPassword, *route, *clients, *duration, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "ticketbench:", err)
		os.Exit(1)
	}
}

type round struct {
	tickets          int
	perSec, p50, p99 float64
	// p99Params and p99Parts are the p99 of each kind of answer of -route companion.
	p99Params, p99Parts float64
}

func run(bases []string, adminPassword, route string, clients int, duration time.Duration, rounds int) error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: time.Minute}
	base := bases[0]
	admin, err := login(hc, base, "admin", adminPassword)
	if err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	tokens := make([]string, clients)
	errs := make([]error, clients)
	run := rand.Text()[:6]
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			name := fmt.Sprintf("bench-%s-%02d", run, i)
			body := map[string]any{"username": name, "password": name + "-password",
				"policy": map[string]any{"max_pending_uploads": 0, "quota_bytes": 0, "max_object_bytes": 0, "allowed_content_types": []string{"*/*"}}}
			if _, err := call(hc, base, admin, "POST", "/v1/users", body, http.StatusCreated); err != nil {
				errs[i] = err
				return
			}
			tokens[i], errs[i] = login(hc, base, name, name+"-password")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("creating the users: %w", err)
	}
	var cc []companionClient
	if route == "companion" {
		if cc, err = prepareCompanion(hc, bases, tokens); err != nil {
			return fmt.Errorf("minting upload tokens: %w", err)
		}
	}
	var results []round
	for r := range rounds {
		var res round
		if route == "companion" {
			res, err = measureCompanion(hc, cc, duration)
		} else {
			res, err = measure(hc, bases, tokens, duration)
		}
		if err != nil {
			return err
		}
		fmt.Printf("round %d: %d answers, %.0f answers/s, p50 %.2f ms, p99 %.2f ms", r+1, res.tickets, res.perSec, res.p50, res.p99)
		if route == "companion" {
			fmt.Printf(" (p99 s3/params %.2f ms, part URLs %.2f ms)", res.p99Params, res.p99Parts)
		}
		fmt.Println()
		results = append(results, res)
	}
	med := func(f func(round) float64) float64 { return stats.Median(results, f) }
	fmt.Printf("median of %d rounds, %s, %d clients on %d replica(s): %.0f answers/s, p50 %.2f ms, p99 %.2f ms\n", rounds, route, clients, len(bases),
		med(func(r round) float64 { return r.perSec }), med(func(r round) float64 { return r.p50 }), med(func(r round) float64 { return r.p99 }))
	return nil
}

// measure runs one round: every client asks one of the replicas (in turn) for tickets until the
// duration is over.
func measure(hc *http.Client, bases []string, tokens []string, d time.Duration) (round, error) {
	body := []byte(`{"filename":"clip.mp4","size":1048576,"content_type":"video/mp4"}`)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i, tok := range tokens {
		base := bases[i%len(bases)]
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				req, _ := http.NewRequest("POST", base+"/v1/uploads", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				t := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Store(fmt.Errorf("ticket answered %d (is --ticket-rate 0?)", resp.StatusCode))
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return round{}, err
	}
	if len(lat) == 0 {
		return round{}, errors.New("no ticket in the round")
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return round{tickets: len(lat), perSec: float64(len(lat)) / elapsed.Seconds(), p50: ms(lat[len(lat)/2]), p99: ms(lat[len(lat)*99/100])}, nil
}

// login logs user in. The clients log in at once from one address, so the control plane's
// login throttle asks some of them to try again (429 or 503); they do, as a real client would.
func login(hc *http.Client, base, user, password string) (string, error) {
	var s struct{ Token string }
	var b []byte
	var err error
	for range 200 {
		b, err = call(hc, base, "", "POST", "/v1/login", map[string]string{"username": user, "password": password}, http.StatusOK)
		var se *statusError
		if !errors.As(err, &se) || se.status != http.StatusTooManyRequests && se.status != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Token == "" {
		return "", fmt.Errorf("login answer %s", b)
	}
	return s.Token, nil
}

func call(hc *http.Client, base, token, method, path string, body any, want int) ([]byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, &statusError{fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, out), resp.StatusCode}
	}
	return out, nil
}

// statusError is an answer other than the one a call wanted.
type statusError struct {
	msg    string
	status int
}

func (e *statusError) Error() string { return e.msg }
