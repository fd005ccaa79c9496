package storetest

import (
	"errors"
	"testing"
	"time"

	"presign/control"
)

// racers is how many goroutines race in each test.
const racers = 32

var raceTests = []test{
	{"QuotaRaceAdmitsExactlyWhatFits", func(t *testing.T, e *env) {
		const fits, size = 5, 1000
		u := e.user("alice")
		stores := []control.Store{e.s, e.open()}
		errs := race(racers, func(i int) error {
			return stores[i%2].CreateUpload(e.ctx, e.newUpload(u.ID, size), control.Limits{QuotaBytes: fits * size})
		})
		ok, refused := count(t, errs, control.ErrQuotaExceeded)
		if ok != fits || refused != racers-fits {
			t.Fatalf("admitted %d, refused %d; want %d and %d", ok, refused, fits, racers-fits)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: fits * size, Pending: fits})
	}},
	{"PendingRaceAdmitsExactlyTheLimit", func(t *testing.T, e *env) {
		const limit = 7
		u := e.user("alice")
		stores := []control.Store{e.s, e.open()}
		errs := race(racers, func(i int) error {
			return stores[i%2].CreateUpload(e.ctx, e.newUpload(u.ID, 1), control.Limits{MaxPending: limit})
		})
		ok, refused := count(t, errs, control.ErrTooManyPending)
		if ok != limit || refused != racers-limit {
			t.Fatalf("admitted %d, refused %d; want %d and %d", ok, refused, limit, racers-limit)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: limit, Pending: limit})
	}},
	{"CompletionRaceMakesOneChangeAndOneFile", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.upload(u.ID, 64)
		stores := []control.Store{e.s, e.open()}
		errs := race(racers, func(i int) error {
			_, err := stores[i%2].TransitionUpload(e.ctx, up.ID, states(control.StatePending, control.StateUploading),
				control.StateCompleted, control.Change{At: at(time.Duration(i) * time.Second), ETag: "e"})
			return err
		})
		ok, conflicts := count(t, errs, control.ErrStateConflict)
		if ok != 1 || conflicts != racers-1 {
			t.Fatalf("%d succeeded, %d conflicted; want 1 and %d", ok, conflicts, racers-1)
		}
		page, err := e.s.ListFiles(e.ctx, u.ID, "", 100)
		wantErr(t, "ListFiles", err, nil)
		if len(page.Files) != 1 || page.Files[0].ID != up.ID {
			t.Fatalf("files = %+v, want exactly the upload's", page.Files)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: 64})
	}},
	{"CompleteRacingExpireHasOneWinner", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.upload(u.ID, 64)
		stores := []control.Store{e.s, e.open()}
		targets := []control.UploadState{control.StateCompleted, control.StateExpired, control.StateFailed}
		errs := race(racers, func(i int) error {
			_, err := stores[i%2].TransitionUpload(e.ctx, up.ID, states(control.StatePending), targets[i%3],
				control.Change{At: at(time.Minute)})
			return err
		})
		ok, _ := count(t, errs, control.ErrStateConflict)
		if ok != 1 {
			t.Fatalf("%d transitions succeeded, want 1", ok)
		}
		var winner control.UploadState
		for i, err := range errs {
			if err == nil {
				winner = targets[i%3]
			}
		}
		got, _ := e.s.Upload(e.ctx, up.ID)
		wantEqual(t, "state", got.State, winner)
		_, err := e.s.File(e.ctx, up.ID)
		if (err == nil) != (winner == control.StateCompleted) {
			t.Fatalf("state %s but File error %v", winner, err)
		}
		want := control.Usage{}
		if winner == control.StateCompleted {
			want.Bytes = 64
		}
		e.wantUsage(u.ID, want)
	}},
	{"FailingChangeDoesNotUndoConcurrentOnes", func(t *testing.T, e *env) {
		u := e.user("alice")
		taken := e.upload(u.ID, 1)
		errs := race(racers, func(i int) error {
			up := e.newUpload(u.ID, 10)
			if i%2 == 1 {
				up.Key = taken.Key // refused: key taken
			}
			return e.s.CreateUpload(e.ctx, up, control.Limits{})
		})
		ok, conflicts := count(t, errs, control.ErrConflict)
		if ok != racers/2 || conflicts != racers/2 {
			t.Fatalf("%d stored, %d conflicted; want %d each", ok, conflicts, racers/2)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: 1 + 10*racers/2, Pending: 1 + racers/2})
	}},
	{"ManyUsersConcurrentTicketsKeepUsageExact", func(t *testing.T, e *env) {
		const users, each = 8, 20
		ids := make([]string, users)
		for i := range ids {
			ids[i] = e.user(e.id("user")).ID
		}
		stores := []control.Store{e.s, e.open()}
		errs := race(users*each, func(i int) error {
			s := stores[i%2]
			up := e.newUpload(ids[i%users], int64(i))
			if err := s.CreateUpload(e.ctx, up, control.Limits{}); err != nil {
				return err
			}
			if i%4 == 0 {
				_, err := s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateExpired, control.Change{At: at(time.Hour)})
				return err
			}
			return nil
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for u, id := range ids {
			var want control.Usage
			for i := u; i < users*each; i += users {
				if i%4 != 0 {
					want.Bytes += int64(i)
					want.Pending++
				}
			}
			e.wantUsage(id, want)
		}
	}},
}
