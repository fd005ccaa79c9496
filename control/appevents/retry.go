package appevents

import (
	"math/rand/v2"
	"time"
)

// Retry is when a failed delivery is tried again, and when it is given up: the wait doubles
// from Min after each failed attempt, up to Max, jittered into its upper half so that
// deliveries and replicas spread out; a Retry-After answer lengthens it (up to Max). A delivery
// still failing DeadAfter after its event was created is dead: kept, shown, and redeliverable by
// hand, but no longer tried.
type Retry struct {
	Min, Max  time.Duration
	DeadAfter time.Duration
}

// The defaults of a zero Retry field.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 10 * time.Minute
	DefaultDeadAfter  = 72 * time.Hour
)

func (r Retry) withDefaults() Retry {
	if r.Min <= 0 {
		r.Min = DefaultMinBackoff
	}
	if r.Max <= 0 {
		r.Max = DefaultMaxBackoff
	}
	r.Max = max(r.Max, r.Min)
	if r.DeadAfter <= 0 {
		r.DeadAfter = DefaultDeadAfter
	}
	return r
}

// Backoff is the wait after the attempts-th consecutive failure (attempts ≥ 1), before jitter
// is applied by Next.
func (r Retry) Backoff(attempts int) time.Duration {
	r = r.withDefaults()
	d := r.Min
	for i := 1; i < attempts && d < r.Max; i++ {
		if d > r.Max/2 {
			return r.Max // doubling would pass the cap, or overflow
		}
		d *= 2
	}
	return min(d, r.Max)
}

// Next decides after a failed attempt at now, the attempts-th of a delivery whose event was
// created at created: the time of the next attempt, or dead. The last attempt is made at
// created+DeadAfter, not skipped; one that fails at or past it is the end.
func (r Retry) Next(attempts int, created, now time.Time, retryAfter time.Duration) (next time.Time, dead bool) {
	r = r.withDefaults()
	deadline := created.Add(r.DeadAfter)
	if !now.Before(deadline) {
		return time.Time{}, true
	}
	d := r.Backoff(attempts)
	half := d / 2
	d = half + rand.N(d-half+1)
	d = min(max(d, retryAfter), r.Max)
	next = now.Add(d)
	if next.After(deadline) {
		next = deadline
	}
	return next, false
}
