package load

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"presign/bench/internal/stats"
)

// small is ScenarioSmall: conc workers PUT objects until d has passed, then conc workers GET
// every object put, each checked against its own CRC-32C. An operation's latency includes
// signing its URL, as a client that signs its own would see it. The first failure stops the
// run and is its error.
func (c *Client) small(ctx context.Context, w watch, size int64, conc int, d time.Duration) ([]Result, error) {
	objs := newObjects(size)
	prefix := fmt.Sprintf("small/%d/", time.Now().UnixNano())
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		next atomic.Uint64
		put  = make([][]uint64, conc) // the objects each worker put
		lat  = make([][]time.Duration, conc)
	)
	putRes := Result{Scenario: ScenarioSmall, Phase: "put", Size: size, Concurrency: conc}
	err := w.phase(&putRes, func() error {
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for i := range conc {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					n := next.Add(1)
					key := prefix + fmt.Sprint(n)
					t0 := time.Now()
					u, err := c.presign(ctx, http.MethodPut, key)
					if err == nil {
						err = c.put(ctx, u, objs.body(n), size, func() io.Reader { return objs.body(n) })
					}
					if err != nil {
						stop(fmt.Errorf("%s: %w", key, err))
						return
					}
					lat[i] = append(lat[i], time.Since(t0))
					put[i] = append(put[i], n)
				}
			})
		}
		wg.Wait()
		return context.Cause(ctx)
	})
	if err != nil {
		return nil, err
	}
	summarise(&putRes, lat)

	todo := make(chan uint64)
	lat = make([][]time.Duration, conc)
	getRes := Result{Scenario: ScenarioSmall, Phase: "get", Size: size, Concurrency: conc}
	err = w.phase(&getRes, func() error {
		var wg sync.WaitGroup
		for i := range conc {
			wg.Go(func() {
				h := crc32.New(castagnoli)
				buf := make([]byte, 256<<10)
				for n := range todo {
					key := prefix + fmt.Sprint(n)
					t0 := time.Now()
					h.Reset()
					u, err := c.presign(ctx, http.MethodGet, key)
					var got int64
					if err == nil {
						got, err = c.get(ctx, u, h, buf)
					}
					if err == nil && (got != size || h.Sum32() != objs.sum(n)) {
						err = fmt.Errorf("GET returned %d bytes with CRC-32C %08x; the PUT sent %d with %08x", got, h.Sum32(), size, objs.sum(n))
					}
					if err != nil {
						stop(fmt.Errorf("%s: %w", key, err))
						continue // drain todo
					}
					lat[i] = append(lat[i], time.Since(t0))
				}
			})
		}
	feed:
		for _, ns := range put {
			for _, n := range ns {
				select {
				case todo <- n:
				case <-ctx.Done():
					break feed
				}
			}
		}
		close(todo)
		wg.Wait()
		return context.Cause(ctx)
	})
	if err != nil {
		return nil, err
	}
	summarise(&getRes, lat)
	return []Result{putRes, getRes}, nil
}

// summarise fills r's counts, rates and percentiles from the workers' latencies; r.Seconds is
// the phase's wall time.
func summarise(r *Result, perWorker [][]time.Duration) {
	all := slices.Concat(perWorker...)
	slices.Sort(all)
	r.Ops = int64(len(all))
	r.OpsPerSec = float64(r.Ops) / r.Seconds
	r.MBps = float64(r.Ops*r.Size) / 1e6 / r.Seconds
	r.P50ms = float64(stats.Percentile(all, 0.50)) / 1e6
	r.P99ms = float64(stats.Percentile(all, 0.99)) / 1e6
}
