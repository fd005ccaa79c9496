package appevents_test

import (
	"testing"
	"time"

	"presign/control/appevents"
)

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	r := appevents.Retry{Min: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := r.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := r.Backoff(1000); got != 10*time.Second {
		t.Errorf("Backoff(1000) = %v", got)
	}
}

func TestNextJittersWithinTheUpperHalfAndHonoursRetryAfter(t *testing.T) {
	r := appevents.Retry{Min: time.Second, Max: time.Minute, DeadAfter: time.Hour}
	created := time.Unix(1_000_000, 0)
	now := created.Add(time.Minute)
	seen := map[time.Duration]bool{}
	for range 200 {
		next, dead := r.Next(3, created, now, 0) // backoff 4 s
		d := next.Sub(now)
		if dead || d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("Next after 3 failures: %v, dead %v", d, dead)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct waits in 200: no jitter", len(seen))
	}
	if next, _ := r.Next(1, created, now, 30*time.Second); next.Sub(now) != 30*time.Second {
		t.Fatalf("Retry-After 30 s gave %v", next.Sub(now))
	}
	if next, _ := r.Next(1, created, now, time.Hour); next.Sub(now) != time.Minute {
		t.Fatalf("Retry-After of an hour is capped at Max, gave %v", next.Sub(now))
	}
}

func TestNextMakesALastAttemptAtTheDeadlineThenGivesUp(t *testing.T) {
	r := appevents.Retry{Min: time.Minute, Max: time.Hour, DeadAfter: 10 * time.Minute}
	created := time.Unix(1_000_000, 0)
	next, dead := r.Next(4, created, created.Add(9*time.Minute), 0) // backoff 8 min would pass the deadline
	if dead || !next.Equal(created.Add(10*time.Minute)) {
		t.Fatalf("Next near the deadline: %v, dead %v", next.Sub(created), dead)
	}
	if _, dead := r.Next(5, created, created.Add(10*time.Minute), 0); !dead {
		t.Fatal("an attempt failing at the deadline is not dead")
	}
}

func TestRetryDefaults(t *testing.T) {
	var r appevents.Retry
	if r.Backoff(1) != appevents.DefaultMinBackoff || r.Backoff(100) != appevents.DefaultMaxBackoff {
		t.Fatalf("defaults: %v, %v", r.Backoff(1), r.Backoff(100))
	}
	created := time.Now()
	if _, dead := r.Next(1, created, created.Add(appevents.DefaultDeadAfter), 0); !dead {
		t.Fatal("default dead-letter time not applied")
	}
}
