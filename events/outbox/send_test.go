package outbox

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	const lo, hi = time.Second, 5 * time.Minute
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second},
		{10, hi}, {50, hi}, {1 << 20, hi},
	}
	for _, tc := range tests {
		for range 200 {
			got := backoff(tc.attempt, lo, hi)
			if got < tc.ceiling/2 || got > tc.ceiling {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.attempt, got, tc.ceiling/2, tc.ceiling)
			}
		}
	}
}

func TestBackoffSurvivesAHugeCap(t *testing.T) {
	for attempt := 1; attempt < 100; attempt++ {
		if got := backoff(attempt, time.Hour, math.MaxInt64); got <= 0 {
			t.Fatalf("backoff(%d) = %s", attempt, got)
		}
	}
}

func TestRetryAfterReadsSecondsAndDates(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]time.Duration{
		"":     0,
		"30":   30 * time.Second,
		"-1":   0,
		"soon": 0,
		"1.5":  0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	}
	for v, want := range tests {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestRedactURLDropsCredentials(t *testing.T) {
	tests := map[string]string{
		"https://user:pw@hooks.example.com:8443/p/a?token=x#frag": "https://hooks.example.com:8443/p/a",
		"http://127.0.0.1/hook?":                                  "http://127.0.0.1/hook",
		"http://[::1":                                             "(unparsable URL)",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
