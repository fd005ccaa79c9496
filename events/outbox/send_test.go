package outbox

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/events"
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

func TestFailureAnsweredBeforeAnotherLanesSuccessStartsNoNewOutage(t *testing.T) {
	var buf lockedBuffer
	l := openLog(t, t.TempDir(), Options{})
	d, err := NewDeliverer(l, []Target{{URL: "http://127.0.0.1:1/hook", Secret: []byte("k")}},
		DelivererOptions{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tg := d.targets[0]
	e := events.Entry{Seq: 1, ID: "e1"}
	t0 := time.Now()
	d.failed(tg, e, t0, 1, http.StatusServiceUnavailable, errors.New("answered 503"))
	// Lane B's attempt succeeded, answered at t0+2ms; lane A's second attempt started before
	// that answer, and its 503 is reported after B's success.
	d.succeeded(tg, t0.Add(2*time.Millisecond), http.StatusOK)
	d.failed(tg, e, t0.Add(time.Millisecond), 2, http.StatusServiceUnavailable, errors.New("answered 503"))
	if n := strings.Count(buf.String(), "webhook delivery failing"); n != 1 {
		t.Errorf("%d failure lines, want 1 (the stale 503 opened a new outage):\n%s", n, buf.String())
	}
	// A failure of an attempt that started after the success was answered is a new outage.
	d.failed(tg, e, t0.Add(3*time.Millisecond), 1, http.StatusServiceUnavailable, errors.New("answered 503"))
	if n := strings.Count(buf.String(), "webhook delivery failing"); n != 2 {
		t.Errorf("%d failure lines, want 2 (a fresh failure after the recovery):\n%s", n, buf.String())
	}
}

// Lane A's attempt starts first and lane B's just after; the receiver answers B 503 while it is
// still down and A 200 once it is up, and B's failure is reported after A's success. The two
// attempts overlapped, so B's 503 says nothing about the target after A's answer: no second
// outage. (Under load TestLogsName...DoNotFlood saw exactly this order.)
func TestFailureOfAnAttemptOverlappingAnotherLanesSuccessStartsNoNewOutage(t *testing.T) {
	var buf lockedBuffer
	l := openLog(t, t.TempDir(), Options{})
	d, err := NewDeliverer(l, []Target{{URL: "http://127.0.0.1:1/hook", Secret: []byte("k")}},
		DelivererOptions{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tg := d.targets[0]
	e := events.Entry{Seq: 4, ID: "e4"}
	t0 := time.Now()
	d.failed(tg, e, t0.Add(-time.Millisecond), 7, http.StatusServiceUnavailable, errors.New("answered 503"))
	startB, answeredA := t0.Add(time.Millisecond), t0.Add(2*time.Millisecond) // A started at t0
	d.succeeded(tg, answeredA, http.StatusOK)
	d.failed(tg, e, startB, 8, http.StatusServiceUnavailable, errors.New("answered 503"))
	if n := strings.Count(buf.String(), "webhook delivery failing"); n != 1 {
		t.Errorf("%d failure lines, want 1 (a 503 of an attempt overlapping the success opened a new outage):\n%s", n, buf.String())
	}
}
