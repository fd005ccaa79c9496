package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"presign/events"
)

// maxDrain is how much of an answer's body is read so the connection can be reused.
const maxDrain = 64 << 10

// send makes one attempt to deliver e to t. It returns the answer's status (0 if there was
// none), how long the target asked to wait (Retry-After), and an error unless the status is
// 2xx. Errors never contain the URL, whose query may hold credentials.
func (d *Deliverer) send(ctx context.Context, t *target, e events.Entry) (int, time.Duration, error) {
	d.metrics.attempts.WithLabelValues(t.label).Inc()
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(e.Body))
	if err != nil {
		return 0, 0, errors.New("cannot build request")
	}
	for k, v := range events.Sign(t.Secret, e.ID, e.Body, time.Now()) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "presign-events/1")
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, 0, nil
	}
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), time.Now()), fmt.Errorf("answered %s", resp.Status)
}

// retryAfter reads a Retry-After value: seconds or an HTTP date. 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait after the attempt-th consecutive failure: lo doubled attempt-1 times,
// capped at hi, then jittered into its upper half so that lanes and nodes spread out.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		if d > hi/2 {
			d = hi // doubling would pass the cap, or overflow
			break
		}
		d *= 2
	}
	d = max(min(d, hi), 1)
	half := d / 2
	return half + rand.N(d-half+1)
}

// health is a target's delivery state, shared by its lanes, so that logs follow changes of
// state instead of attempts: the first failure and the recovery are logged, and a lasting
// failure at most once per LogInterval.
type health struct {
	mu       sync.Mutex
	failing  bool
	since    time.Time
	failures int
	lastLog  time.Time
	// upAt is when the latest successful attempt was answered. Lanes send concurrently,
	// and the receiver may answer an attempt that started later before one that started
	// earlier, so a failure reported after another lane's success may have been answered
	// before the target recovered. Only an attempt started after a success was answered
	// surely saw the target after it; an earlier one's failure says nothing about it now.
	upAt time.Time
}

// failed records a failed attempt that started at started.
func (d *Deliverer) failed(t *target, e events.Entry, started time.Time, attempt, status int, err error) {
	d.metrics.failures.WithLabelValues(t.label, failureReason(status)).Inc()
	now := time.Now()
	h := &t.state
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing && started.Before(h.upAt) {
		return
	}
	h.failures++
	attrs := []any{"target", t.label, "url", t.url, "status", status, "attempt", attempt,
		"seq", e.Seq, "event_id", e.ID, "error", err.Error()}
	switch {
	case !h.failing:
		h.failing, h.since, h.lastLog = true, now, now
		d.metrics.up.WithLabelValues(t.label).Set(0)
		d.logger.Warn("webhook delivery failing; retrying with backoff", attrs...)
	case now.Sub(h.lastLog) >= d.opts.LogInterval:
		h.lastLog = now
		d.logger.Warn("webhook delivery still failing",
			append(attrs, "failed_attempts", h.failures, "failing_for", now.Sub(h.since).Round(time.Second).String())...)
	}
}

// succeeded records a successful attempt answered at answered.
func (d *Deliverer) succeeded(t *target, answered time.Time, status int) {
	d.metrics.delivered.WithLabelValues(t.label).Inc()
	h := &t.state
	h.mu.Lock()
	defer h.mu.Unlock()
	if answered.After(h.upAt) {
		h.upAt = answered
	}
	if h.failing {
		d.logger.Info("webhook delivery recovered", "target", t.label, "url", t.url, "status", status,
			"failed_attempts", h.failures, "failing_for", time.Since(h.since).Round(time.Second).String())
		d.metrics.up.WithLabelValues(t.label).Set(1)
	}
	h.failing, h.failures = false, 0
}
