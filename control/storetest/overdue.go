package storetest

import (
	"sync"
	"testing"
	"time"

	"presign/control"
)

// overdue records an upload of the user whose ticket expires at the time, in the state.
func (e *env) overdue(userID string, expires time.Time, state control.UploadState) *control.Upload {
	e.t.Helper()
	up := e.newUpload(userID, 1)
	up.Expires = expires
	if err := e.s.CreateUpload(e.ctx, up, control.Limits{}); err != nil {
		e.t.Fatalf("CreateUpload: %v", err)
	}
	if state != control.StatePending {
		if _, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), state, control.Change{At: t0}); err != nil {
			e.t.Fatalf("TransitionUpload: %v", err)
		}
	}
	return up
}

// uploadIDs returns the uploads' ids in order.
func uploadIDs(ups []control.Upload) []string {
	out := []string{}
	for _, u := range ups {
		out = append(out, u.ID)
	}
	return out
}

var overdueTests = []test{
	{"ClaimOverdueTakesActiveExpiredUploadsOldestFirst", func(t *testing.T, e *env) {
		u := e.user("alice").ID
		a := e.overdue(u, at(10*time.Minute), control.StatePending)
		b := e.overdue(u, at(20*time.Minute), control.StatePending)
		e.overdue(u, at(2*time.Hour), control.StatePending)     // not yet due
		e.overdue(u, at(5*time.Minute), control.StateCompleted) // done
		e.overdue(u, at(5*time.Minute), control.StateFailed)    // done
		c := e.overdue(u, at(15*time.Minute), control.StateUploading)
		now := at(30 * time.Minute)
		got, err := e.s.ClaimOverdue(e.ctx, now, time.Minute, 2)
		wantErr(t, "ClaimOverdue", err, nil)
		wantEqual(t, "first claim", uploadIDs(got), []string{a.ID, c.ID})
		got, err = e.s.ClaimOverdue(e.ctx, now, time.Minute, 10)
		wantErr(t, "ClaimOverdue", err, nil)
		wantEqual(t, "second claim", uploadIDs(got), []string{b.ID})
		got, err = e.s.ClaimOverdue(e.ctx, now, time.Minute, 10)
		wantErr(t, "ClaimOverdue", err, nil)
		wantEqual(t, "third claim", uploadIDs(got), []string{})
	}},
	{"LeaseExcludesOtherStoresUntilItEnds", func(t *testing.T, e *env) {
		u := e.user("alice").ID
		a := e.overdue(u, at(time.Minute), control.StatePending)
		other := e.open()
		now := at(time.Hour)
		got, err := e.s.ClaimOverdue(e.ctx, now, 5*time.Minute, 10)
		wantErr(t, "claim on first store", err, nil)
		wantEqual(t, "first store's claim", uploadIDs(got), []string{a.ID})
		for _, when := range []time.Duration{0, time.Minute, 5 * time.Minute} {
			got, err = other.ClaimOverdue(e.ctx, now.Add(when), 5*time.Minute, 10)
			wantErr(t, "claim on second store", err, nil)
			wantEqual(t, "second store's claim during the lease", uploadIDs(got), []string{})
		}
		got, err = other.ClaimOverdue(e.ctx, now.Add(5*time.Minute+time.Microsecond), 5*time.Minute, 10)
		wantErr(t, "claim after lease", err, nil)
		wantEqual(t, "second store's claim after the lease", uploadIDs(got), []string{a.ID})
	}},
	{"TransitionEndsTheLease", func(t *testing.T, e *env) {
		u := e.user("alice").ID
		a := e.overdue(u, at(time.Minute), control.StatePending)
		now := at(time.Hour)
		if _, err := e.s.ClaimOverdue(e.ctx, now, time.Hour, 10); err != nil {
			t.Fatal(err)
		}
		// The reconciler found the multipart upload alive and gave it a deadline that has passed
		// again; its lease must not hide it.
		if _, err := e.s.TransitionUpload(e.ctx, a.ID, states(control.StatePending), control.StateUploading,
			control.Change{At: now, Expires: at(2 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.ClaimOverdue(e.ctx, now, time.Hour, 10)
		wantErr(t, "ClaimOverdue", err, nil)
		wantEqual(t, "claim after transition", uploadIDs(got), []string{a.ID})
	}},
	{"ConcurrentClaimsNeverShareAnUpload", func(t *testing.T, e *env) {
		const n = 60
		u := e.user("alice").ID
		want := map[string]bool{}
		for i := range n {
			want[e.overdue(u, at(time.Duration(i)*time.Second), control.StatePending).ID] = true
		}
		stores := []control.Store{e.s, e.open()}
		var mu sync.Mutex
		claimed := map[string]int{}
		errs := race(8, func(i int) error {
			for {
				got, err := stores[i%2].ClaimOverdue(e.ctx, at(time.Hour), time.Hour, 3)
				if err != nil || len(got) == 0 {
					return err
				}
				mu.Lock()
				for _, up := range got {
					claimed[up.ID]++
				}
				mu.Unlock()
			}
		})
		count(t, errs, nil)
		if len(claimed) != n {
			t.Fatalf("claimed %d distinct uploads, want %d", len(claimed), n)
		}
		for id, times := range claimed {
			if times != 1 || !want[id] {
				t.Fatalf("upload %s claimed %d times (known: %v)", id, times, want[id])
			}
		}
	}},
	{"ClaimOverdueRefusesBadArguments", func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name  string
			lease time.Duration
			limit int
		}{{"zero lease", 0, 1}, {"zero limit", time.Minute, 0}, {"huge limit", time.Minute, control.MaxPage + 1}} {
			_, err := e.s.ClaimOverdue(e.ctx, t0, tc.lease, tc.limit)
			wantErr(t, tc.name, err, control.ErrInvalid)
		}
	}},
}
