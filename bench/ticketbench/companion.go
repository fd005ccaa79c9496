package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// companionClient is one client of -route companion: an upload token of its own user, and the
// multipart upload whose parts it signs.
type companionClient struct {
	endpoint string // the token's companion_endpoint
	uploadID string
	key      string
}

// prepareCompanion mints an upload token for each client's user and starts one multipart
// upload through the Companion routes, as Uppy does before signing parts.
func prepareCompanion(hc *http.Client, bases, tokens []string) ([]companionClient, error) {
	out := make([]companionClient, len(tokens))
	errs := make([]error, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		base := bases[i%len(bases)]
		wg.Go(func() {
			b, err := call(hc, base, tok, "POST", "/v1/upload-tokens", map[string]any{"subject": "bench", "expires_in_seconds": 86400}, http.StatusCreated)
			if err != nil {
				errs[i] = err
				return
			}
			var t struct {
				CompanionEndpoint string `json:"companion_endpoint"`
			}
			if err := json.Unmarshal(b, &t); err != nil {
				errs[i] = err
				return
			}
			b, err = call(hc, t.CompanionEndpoint, "", "POST", "/s3/multipart", map[string]any{"filename": "clip.mp4", "type": "video/mp4"}, http.StatusOK)
			if err != nil {
				errs[i] = err
				return
			}
			var m struct{ Key, UploadID string }
			if err := json.Unmarshal(b, &m); err != nil {
				errs[i] = err
				return
			}
			out[i] = companionClient{endpoint: t.CompanionEndpoint, uploadID: m.UploadID, key: m.Key}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// measureCompanion runs one round of -route companion: every client alternates Uppy's two
// signing calls, a form for a small file (GET s3/params, which records a new upload) and a part
// URL of its multipart upload (GET s3/multipart/{id}/{n}), until the duration is over. It
// counts answers, both kinds together, and also reports each kind's own p99.
func measureCompanion(hc *http.Client, clients []companionClient, d time.Duration) (round, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var all, params, parts []time.Duration
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range clients {
		wg.Go(func() {
			var mineP, mineS []time.Duration
			q := url.Values{"key": {c.key}}.Encode()
			for n := 0; ctx.Err() == nil; n++ {
				var u string
				if n%2 == 0 {
					u = c.endpoint + "/s3/params?" + url.Values{"filename": {"photo-" + strconv.Itoa(i) + ".jpg"}, "type": {"image/jpeg"}}.Encode()
				} else {
					u = c.endpoint + "/s3/multipart/" + url.PathEscape(c.uploadID) + "/" + strconv.Itoa(n/2%10000+1) + "?" + q
				}
				t := time.Now()
				resp, err := hc.Get(u)
				if err != nil {
					if ctx.Err() == nil {
						failed.Store(err)
					}
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(fmt.Errorf("GET %s answered %d", u[len(c.endpoint):], resp.StatusCode))
					return
				}
				if n%2 == 0 {
					mineP = append(mineP, time.Since(t))
				} else {
					mineS = append(mineS, time.Since(t))
				}
			}
			mu.Lock()
			params, parts = append(params, mineP...), append(parts, mineS...)
			all = append(append(all, mineP...), mineS...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return round{}, err
	}
	if len(params) == 0 || len(parts) == 0 {
		return round{}, errors.New("no answer in the round")
	}
	for _, l := range [][]time.Duration{all, params, parts} {
		slices.Sort(l)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return round{tickets: len(all), perSec: float64(len(all)) / elapsed.Seconds(), p50: ms(all[len(all)/2]), p99: ms(all[len(all)*99/100]),
		p99Params: ms(params[len(params)*99/100]), p99Parts: ms(parts[len(parts)*99/100])}, nil
}
