package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var keys = []string{"a", "b/c", "photo 1.jpg", "ünï", "e", "f", "g", "h", "i", "j"}

func TestReceiverDownThenUpGetsEveryEventOnceInKeyOrder(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	addr := freeAddr(t)
	target := Target{Name: "app", URL: "http://" + addr + "/hook", Secret: []byte("s3cret")}
	run := start(t, l, []Target{target}, fastOptions(discard()))

	entries := makeEntries(t, 1, 300, keys...)
	appendAll(t, l, entries[:150])
	// Not listening at all: connection refused.
	eventually(t, "a refused connection is counted", func() bool {
		return testutil.ToFloat64(run.d.metrics.failures.WithLabelValues("app", "transport")) > 0
	})
	// Listening but answering 503.
	rcv := newReceiver(t, "s3cret", addr)
	rcv.setStatus(http.StatusServiceUnavailable)
	appendAll(t, l, entries[150:])
	eventually(t, "a 503 is counted", func() bool {
		return testutil.ToFloat64(run.d.metrics.failures.WithLabelValues("app", "5xx")) > 0
	})
	if rcv.count() != 0 || l.Len() != len(entries) {
		t.Fatalf("while down: %d applied, %d in the log", rcv.count(), l.Len())
	}
	rcv.setStatus(0)
	eventually(t, "every event is applied and the log is empty", func() bool {
		return rcv.count() == len(entries) && l.Len() == 0
	})
	rcv.check(entries)
}

func TestRestartResendsWhatWasNotAcknowledgedAndLosesNothing(t *testing.T) {
	dir := t.TempDir()
	rcv := newReceiver(t, "k", "")
	target := Target{URL: rcv.url(), Secret: []byte("k")}
	entries := makeEntries(t, 1, 240, keys...)
	// The receiver applies event 60 but never answers, as if the node died before it saw the
	// answer: the entry stays unacknowledged.
	rcv.hold = 60

	l := openLog(t, dir, Options{})
	run := start(t, l, []Target{target}, fastOptions(discard()))
	appendAll(t, l, entries[:120])
	eventually(t, "event 60 is applied", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.seen[entries[59].ID]
	})
	run.stop(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, Options{})
	if l.Len() == 0 {
		t.Fatal("nothing left in the log after the restart")
	}
	rcv.mu.Lock()
	rcv.hold = 0
	rcv.mu.Unlock()
	appendAll(t, l, entries[120:])
	start(t, l, []Target{target}, fastOptions(discard()))
	eventually(t, "every event is applied and the log is empty", func() bool {
		return rcv.count() == len(entries) && l.Len() == 0
	})
	rcv.check(entries)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.dups == 0 {
		t.Error("event 60 was not sent again after the restart")
	}
}

func TestEachTargetGetsEverythingAndEntriesWaitForTheSlowest(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	a := newReceiver(t, "secret-a", "")
	b := newReceiver(t, "secret-b", "")
	b.setStatus(http.StatusBadGateway)
	start(t, l, []Target{
		{Name: "a", URL: a.url(), Secret: []byte("secret-a")},
		{Name: "b", URL: b.url(), Secret: []byte("secret-b")},
	}, fastOptions(discard()))
	entries := makeEntries(t, 1, 120, keys...)
	appendAll(t, l, entries)
	eventually(t, "a has everything", func() bool { return a.count() == len(entries) })
	if l.Len() != len(entries) {
		t.Fatalf("%d entries left while b has acknowledged none, want %d", l.Len(), len(entries))
	}
	b.setStatus(0)
	eventually(t, "b has everything and the log is empty", func() bool {
		return b.count() == len(entries) && l.Len() == 0
	})
	a.check(entries)
	b.check(entries)
}

func TestFailingKeyHoldsUpOnlyItsLane(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	rcv := newReceiver(t, "k", "")
	rcv.failKey = "stuck"
	opts := fastOptions(discard())
	start(t, l, []Target{{URL: rcv.url(), Secret: []byte("k")}}, opts)

	stuckLane := laneOf([]byte("b/stuck"), uint32(opts.Lanes))
	var others []string
	for i := 0; len(others) < 8; i++ {
		k := fmt.Sprintf("other-%d", i)
		if laneOf([]byte("b/"+k), uint32(opts.Lanes)) != stuckLane {
			others = append(others, k)
		}
	}
	appendAll(t, l, makeEntries(t, 1, 1, "stuck"))
	rest := makeEntries(t, 2, 80, others...)
	appendAll(t, l, rest)
	eventually(t, "the other lanes deliver everything and only the stuck entry is left", func() bool {
		return rcv.count() == len(rest) && l.Len() == 1
	})
	rcv.check(rest)
}

func TestLowerSeqCommittedLateIsStillDelivered(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	rcv := newReceiver(t, "k", "")
	opts := fastOptions(discard())
	opts.Lanes = 1
	start(t, l, []Target{{URL: rcv.url(), Secret: []byte("k")}}, opts)
	late := makeEntries(t, 5, 1, "x")
	early := makeEntries(t, 10, 1, "y")
	appendAll(t, l, early)
	eventually(t, "seq 10 is delivered", func() bool { return rcv.count() == 1 })
	appendAll(t, l, late)
	eventually(t, "seq 5 is delivered after seq 10", func() bool { return rcv.count() == 2 && l.Len() == 0 })
}

func TestRemovedTargetNoLongerHoldsEntries(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	a := newReceiver(t, "k", "")
	gone := newReceiver(t, "k", "")
	gone.setStatus(http.StatusServiceUnavailable)
	ta := Target{Name: "a", URL: a.url(), Secret: []byte("k")}
	run := start(t, l, []Target{ta, {Name: "gone", URL: gone.url(), Secret: []byte("k")}}, fastOptions(discard()))
	entries := makeEntries(t, 1, 20, keys...)
	appendAll(t, l, entries)
	eventually(t, "a has everything", func() bool { return a.count() == len(entries) })
	run.stop(t)
	if l.Len() != len(entries) {
		t.Fatalf("%d entries before the target is removed, want %d", l.Len(), len(entries))
	}
	start(t, l, []Target{ta}, fastOptions(discard()))
	eventually(t, "the log is empty", func() bool { return l.Len() == 0 })
	a.check(entries)
}

func TestLogsNameTheTargetButNeitherSecretNorQueryAndDoNotFlood(t *testing.T) {
	var buf lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	l := openLog(t, t.TempDir(), Options{})
	rcv := newReceiver(t, "SIGNING-SECRET", "")
	rcv.setStatus(http.StatusServiceUnavailable)
	u := strings.Replace(rcv.url(), "http://", "http://user:USERINFO-PASSWORD@", 1) + "?token=QUERY-TOKEN"
	target := Target{URL: u, Secret: []byte("SIGNING-SECRET")}
	opts := fastOptions(logger)
	opts.MinBackoff, opts.MaxBackoff = 1e6, 2e6 // 1–2 ms: many attempts quickly
	run := start(t, l, []Target{target}, opts)
	appendAll(t, l, makeEntries(t, 1, 4, keys...))
	label := redactURL(u)
	eventually(t, "40 failed attempts", func() bool {
		return testutil.ToFloat64(run.d.metrics.failures.WithLabelValues(label, "5xx")) >= 40
	})
	rcv.setStatus(0)
	eventually(t, "the log is empty", func() bool { return l.Len() == 0 })
	run.stop(t)

	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", target, target, target, target)
	for _, secret := range []string{"SIGNING-SECRET", "QUERY-TOKEN", "USERINFO-PASSWORD", "token="} {
		if strings.Contains(out, secret) {
			t.Errorf("logs or formatting reveal %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, `"url":"http://127.0.0.1`) || !strings.Contains(out, `"status":503`) || !strings.Contains(out, `"attempt":1`) {
		t.Errorf("failure log lacks url, status or attempt:\n%s", out)
	}
	if n := strings.Count(out, "webhook delivery failing"); n != 1 {
		t.Errorf("%d failure lines for one outage, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "webhook delivery recovered") {
		t.Errorf("recovery not logged:\n%s", out)
	}
}

func TestMetricsShowDepthAttemptsAndFailures(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	l := openLog(t, dir, Options{Registerer: reg})
	rcv := newReceiver(t, "k", "")
	rcv.setStatus(http.StatusInternalServerError)
	run := start(t, l, []Target{{Name: "app", URL: rcv.url(), Secret: []byte("k")}}, DelivererOptions{
		MinBackoff: 1e6, MaxBackoff: 1e7, Logger: discard(), Registerer: reg,
	})
	appendAll(t, l, makeEntries(t, 1, 3, keys...))
	eventually(t, "failures are counted", func() bool {
		return testutil.ToFloat64(run.d.metrics.failures.WithLabelValues("app", "5xx")) >= 3
	})
	want := map[string]func(float64) bool{
		"presign_outbox_depth":                   func(v float64) bool { return v == 3 },
		"presign_outbox_appended_total":          func(v float64) bool { return v == 3 },
		"presign_outbox_oldest_age_seconds":      func(v float64) bool { return v > 0 },
		"presign_outbox_commits_total":           func(v float64) bool { return v >= 1 },
		"presign_outbox_delivery_attempts_total": func(v float64) bool { return v >= 3 },
		"presign_outbox_delivery_failures_total": func(v float64) bool { return v >= 3 },
		"presign_outbox_target_up":               func(v float64) bool { return v == 0 },
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		check, ok := want[f.GetName()]
		if !ok {
			continue
		}
		delete(want, f.GetName())
		m := f.GetMetric()[0]
		v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if !check(v) {
			t.Errorf("%s = %v", f.GetName(), v)
		}
	}
	for name := range want {
		t.Errorf("metric %s not registered", name)
	}
	run.stop(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Close took the metrics back, so a reopened log registers them again.
	openLog(t, dir, Options{Registerer: reg})
	if got := testutil.CollectAndCount(reg, "presign_outbox_depth"); got != 1 {
		t.Errorf("after reopening, %d depth metrics", got)
	}
}

func TestNewDelivererRefusesBadTargets(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	good := Target{URL: "http://127.0.0.1:1/hook", Secret: []byte("k")}
	tests := map[string][]Target{
		"no targets":      nil,
		"not http":        {{URL: "ftp://127.0.0.1/x", Secret: []byte("k")}},
		"no host":         {{URL: "http:///x", Secret: []byte("k")}},
		"unparsable":      {{URL: "http://[::1", Secret: []byte("k")}},
		"empty secret":    {{URL: "http://127.0.0.1:1/hook"}},
		"same URL twice":  {good, good},
		"same name twice": {{Name: "n", URL: "http://127.0.0.1:1/a", Secret: []byte("k")}, {Name: "n", URL: "http://127.0.0.1:1/b", Secret: []byte("k")}},
	}
	for name, targets := range tests {
		if _, err := NewDeliverer(l, targets, DelivererOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRunTwiceIsRefused(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	rcv := newReceiver(t, "k", "")
	run := start(t, l, []Target{{URL: rcv.url(), Secret: []byte("k")}}, fastOptions(discard()))
	appendAll(t, l, makeEntries(t, 1, 1, "a"))
	eventually(t, "delivered", func() bool { return l.Len() == 0 })
	if err := run.d.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}
