package control

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxUploadWait is the longest GET /v1/uploads/{id}?wait= holds a request.
const MaxUploadWait = time.Minute

// waitPoll is how often a waiting request reads the upload again: a transition made by another
// replica is seen at the latest this late. Transitions made by this replica wake it at once.
const waitPoll = 500 * time.Millisecond

// waiters wakes the requests waiting for an upload to end when this replica changes it.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

// subscribe returns a channel that receives when the upload changes, and the function that
// unsubscribes it.
func (w *waiters) subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]map[chan struct{}]struct{}{}
	}
	if w.m[id] == nil {
		w.m[id] = map[chan struct{}]struct{}{}
	}
	w.m[id][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.m[id], ch)
		if len(w.m[id]) == 0 {
			delete(w.m, id)
		}
		w.mu.Unlock()
	}
}

// wake tells the upload's waiters it changed.
func (w *waiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitUpload returns the caller's upload once it is no longer pending or uploading — completed,
// failed, expired or deleted — or as it is when wait has passed or ctx ends, whichever comes
// first. A browser or CLI shows "verified" with one request instead of polling.
func (s *Service) WaitUpload(ctx context.Context, p *Principal, id string, wait time.Duration) (*UploadView, error) {
	if wait < 0 || wait > MaxUploadWait {
		return nil, invalid("wait must be between 0s and %s", MaxUploadWait)
	}
	u, err := s.ownUpload(ctx, p, id)
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(waitPoll)
	defer poll.Stop()
	for u.State.Active() {
		woke, unsubscribe := s.waiting.subscribe(id)
		// Read again after subscribing: a transition between the first read and the
		// subscription would otherwise wake no one.
		cur, err := s.store.Upload(ctx, id)
		if err == nil {
			u = cur
		}
		if !u.State.Active() {
			unsubscribe()
			break
		}
		select {
		case <-woke:
		case <-poll.C:
		case <-deadline.C:
			unsubscribe()
			v := viewUpload(u)
			return &v, nil
		case <-ctx.Done():
			unsubscribe()
			v := viewUpload(u)
			return &v, nil
		}
		unsubscribe()
		if cur, err := s.store.Upload(ctx, id); err == nil {
			u = cur
		}
	}
	v := viewUpload(u)
	return &v, nil
}

// uploadWait reads ?wait= of GET /v1/uploads/{id}: a duration ("30s") or seconds ("30").
func uploadWait(r *http.Request) (time.Duration, bool, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseUint(v, 10, 32)
		if nerr != nil {
			return 0, false, invalid("wait must be a duration such as 30s")
		}
		d = time.Duration(n) * time.Second
	}
	return d, true, nil
}
