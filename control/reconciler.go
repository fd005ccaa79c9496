package control

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// reconcileBatch is how many overdue uploads one pass claims; reconcileWorkers check them at once.
const (
	reconcileBatch   = 100
	reconcileWorkers = 4
)

// pruneEvery and pruneAge: expired tokens, seen event ids and rate windows are removed once
// they are pruneAge old. Event ids are kept well past the delivery tolerance; a duplicate older
// than that is still harmless, since applying an event is idempotent.
const (
	pruneEvery = time.Hour
	pruneAge   = 48 * time.Hour
)

// RunReconciler settles overdue uploads every ReconcileInterval and prunes old bookkeeping
// every hour, until ctx ends. Several replicas may run it: each overdue upload is leased to one.
func (s *Service) RunReconciler(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.ReconcileInterval)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		if _, err := s.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "reconciler pass failed", "err", err)
		}
		if now := s.now(); now.Sub(lastPrune) >= pruneEvery {
			if n, err := s.store.Prune(ctx, now.Add(-pruneAge)); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "prune failed", "err", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "pruned expired bookkeeping", "rows", n)
			}
			s.pruneAppEvents(ctx)
			lastPrune = now
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ReconcileOnce claims the uploads whose deadline passed more than ReconcileGrace ago and
// settles each: an upload whose object is in the store (and matches) completes, one whose
// object does not match fails, and the rest expire, with anything they left in the store
// removed. It returns how many uploads it claimed.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.now()
		us, err := s.store.ClaimOverdue(ctx, now.Add(-s.cfg.ReconcileGrace), s.cfg.ReconcileGrace+time.Minute, reconcileBatch)
		if err != nil {
			return total, fmt.Errorf("claim overdue uploads: %w", err)
		}
		total += len(us)
		s.metrics.claims.Add(float64(len(us)))
		var wg sync.WaitGroup
		work := make(chan *Upload)
		for range min(reconcileWorkers, len(us)) {
			wg.Go(func() {
				for u := range work {
					if err := s.reconcile(ctx, u); err != nil && ctx.Err() == nil {
						s.log.WarnContext(ctx, "reconciling an upload; retried when its lease ends", "upload", u.ID, "err", err)
					}
				}
			})
		}
		for i := range us {
			work <- &us[i]
		}
		close(work)
		wg.Wait()
		if len(us) < reconcileBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// reconcile settles one overdue upload.
func (s *Service) reconcile(ctx context.Context, u *Upload) error {
	_, err := s.settle(ctx, u, sourceReconciler)
	if !errors.Is(err, ErrNoObject) {
		return err
	}
	nu, err := s.transition(ctx, u.ID, []UploadState{StatePending, StateUploading}, StateExpired,
		Change{At: s.now(), FailReason: "the ticket expired before the object arrived",
			Audit: &AuditEntry{UserID: u.UserID, Action: "upload.expire", UploadID: u.ID, Key: u.Key}})
	if errors.Is(err, ErrStateConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("expire upload: %w", err)
	}
	// An object may land between the HEAD and the transition (a PUT that started just before
	// the deadline): it is removed with the rest, and its event finds the upload expired.
	s.discard(ctx, nu)
	s.metrics.completions.WithLabelValues(sourceReconciler, string(StateExpired)).Inc()
	return nil
}
