package storetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/control"
)

// BenchClients is how many clients the benchmarks run at once: the ticket path's target load.
const BenchClients = 64

// BenchmarkCreateUpload measures the ticket path's write: CreateUpload with its quota check,
// durable on return, from BenchClients concurrent clients, each its own user with limits that
// never refuse. It reports ops/s and the p50 and p99 latency of one call.
func BenchmarkCreateUpload(b *testing.B, fresh Fresh) {
	runBench(b, fresh, func(ctx context.Context, s control.Store, u *control.Upload) error {
		return s.CreateUpload(ctx, u, control.Limits{QuotaBytes: 1 << 62, MaxPending: 1 << 30})
	})
}

// BenchmarkTicketWrites measures every write one ticket costs the service: the rate-limit Hit,
// CreateUpload and the audit entry, in sequence, from BenchClients concurrent clients. One op is
// one ticket.
func BenchmarkTicketWrites(b *testing.B, fresh Fresh) {
	runBench(b, fresh, func(ctx context.Context, s control.Store, u *control.Upload) error {
		if _, err := s.Hit(ctx, "tickets:"+u.UserID, time.Minute, time.Now()); err != nil {
			return err
		}
		if err := s.CreateUpload(ctx, u, control.Limits{QuotaBytes: 1 << 62, MaxPending: 1 << 30}); err != nil {
			return err
		}
		return s.AppendAudit(ctx, control.AuditEntry{At: time.Now(), UserID: u.UserID, Action: "ticket.issue",
			UploadID: u.ID, Key: u.Key, RemoteAddr: "127.0.0.1:40000"})
	})
}

// runBench runs op for a new upload per iteration from BenchClients goroutines, each with its
// own user, and reports throughput and latency percentiles.
func runBench(b *testing.B, fresh Fresh, op func(context.Context, control.Store, *control.Upload) error) {
	ctx := context.Background()
	s := fresh(b)()
	users := make([]string, BenchClients)
	for i := range users {
		users[i] = fmt.Sprintf("bench-user-%02d", i)
		if err := s.CreateUser(ctx, &control.User{ID: users[i], Username: users[i], PasswordHash: "h", Created: t0}); err != nil {
			b.Fatal(err)
		}
	}
	var next, clients atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((BenchClients + procs - 1) / procs) // RunParallel starts GOMAXPROCS×this goroutines
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		user := users[int(clients.Add(1)-1)%BenchClients]
		var mine []time.Duration
		for pb.Next() {
			id := fmt.Sprintf("upl-%09d", next.Add(1))
			u := &control.Upload{ID: id, UserID: user, Key: "u/" + user + "/" + id + "/video.mp4", Filename: "video.mp4",
				ContentType: "video/mp4", Size: 1 << 20, State: control.StatePending, Nonce: id, Created: t0, Expires: at(15 * time.Minute)}
			t := time.Now()
			if err := op(ctx, s, u); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
