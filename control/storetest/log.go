package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"presign/control"
)

var logTests = []test{
	{"EventIsFirstOnceAcrossStores", func(t *testing.T, e *env) {
		other := e.open()
		for _, tc := range []struct {
			s     control.Store
			id    string
			first bool
		}{{e.s, "ev-1", true}, {e.s, "ev-1", false}, {other, "ev-1", false}, {other, "ev-2", true}, {e.s, "ev-2", false}} {
			first, err := tc.s.MarkEventSeen(e.ctx, tc.id, t0)
			wantErr(t, "MarkEventSeen", err, nil)
			if first != tc.first {
				t.Fatalf("MarkEventSeen(%s) first = %v, want %v", tc.id, first, tc.first)
			}
		}
		_, err := e.s.MarkEventSeen(e.ctx, "", t0)
		wantErr(t, "empty id", err, control.ErrInvalid)
	}},
	{"DuplicateEventRaceHasOneFirst", func(t *testing.T, e *env) {
		stores := []control.Store{e.s, e.open()}
		firsts := make([]bool, racers)
		errs := race(racers, func(i int) (err error) {
			firsts[i], err = stores[i%2].MarkEventSeen(e.ctx, "ev-dup", t0)
			return err
		})
		count(t, errs, nil)
		n := 0
		for _, f := range firsts {
			if f {
				n++
			}
		}
		wantEqual(t, "firsts", n, 1)
	}},
	{"PruneForgetsOldEventsOnly", func(t *testing.T, e *env) {
		for _, tc := range []struct {
			id   string
			seen time.Time
		}{{"old", t0}, {"new", at(2 * time.Hour)}} {
			if _, err := e.s.MarkEventSeen(e.ctx, tc.id, tc.seen); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.s.Prune(e.ctx, at(time.Hour))
		wantErr(t, "Prune", err, nil)
		for _, tc := range []struct {
			id    string
			first bool
		}{{"old", true}, {"new", false}} {
			first, err := e.s.MarkEventSeen(e.ctx, tc.id, at(3*time.Hour))
			wantErr(t, "MarkEventSeen", err, nil)
			if first != tc.first {
				t.Fatalf("after prune, MarkEventSeen(%s) first = %v, want %v", tc.id, first, tc.first)
			}
		}
	}},
	{"HitCountsPerKeyAndWindowAcrossStores", func(t *testing.T, e *env) {
		stores := []control.Store{e.s, e.open()}
		minute := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
		tests := []struct {
			key    string
			window time.Duration
			now    time.Time
			want   int
		}{
			{"login:alice", time.Minute, minute, 1},
			{"login:alice", time.Minute, minute.Add(30 * time.Second), 2},
			{"login:alice", time.Minute, minute.Add(59*time.Second + 999*time.Millisecond), 3},
			{"login:bob", time.Minute, minute.Add(time.Second), 1},
			{"login:alice", time.Hour, minute, 1},                    // another window length is another counter
			{"login:alice", time.Minute, minute.Add(time.Minute), 1}, // next window
			{"login:alice", time.Minute, minute.Add(90 * time.Second), 2},
		}
		for i, tc := range tests {
			got, err := stores[i%2].Hit(e.ctx, tc.key, tc.window, tc.now)
			wantErr(t, "Hit", err, nil)
			if got != tc.want {
				t.Fatalf("step %d: Hit(%s, %v, %v) = %d, want %d", i, tc.key, tc.window, tc.now, got, tc.want)
			}
		}
		for i, tc := range []struct {
			now  time.Time
			want int
		}{{minute.Add(time.Second), 3}, {minute.Add(time.Minute), 2}, {minute.Add(2 * time.Minute), 0}} {
			got, err := stores[i%2].Hits(e.ctx, "login:alice", time.Minute, tc.now)
			wantErr(t, "Hits", err, nil)
			wantEqual(t, fmt.Sprintf("Hits at %v", tc.now), got, tc.want)
		}
		_, err := e.s.Hit(e.ctx, "k", 0, minute)
		wantErr(t, "zero window", err, control.ErrInvalid)
	}},
	{"ConcurrentHitsCountEachOnce", func(t *testing.T, e *env) {
		stores := []control.Store{e.s, e.open()}
		counts := make([]int, racers)
		errs := race(racers, func(i int) (err error) {
			counts[i], err = stores[i%2].Hit(e.ctx, "tickets:alice", time.Minute, t0)
			return err
		})
		count(t, errs, nil)
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				t.Fatalf("sorted counts = %v, want 1..%d", counts, racers)
			}
		}
	}},
	{"RefundTakesBackOneHitOfItsWindowNeverBelowZero", func(t *testing.T, e *env) {
		stores := []control.Store{e.s, e.open()}
		minute := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
		for range 3 {
			if _, err := e.s.Hit(e.ctx, "login:alice", time.Minute, minute); err != nil {
				t.Fatal(err)
			}
		}
		wantErr(t, "Refund", stores[1].Refund(e.ctx, "login:alice", time.Minute, minute.Add(time.Second)), nil)
		got, _ := e.s.Hits(e.ctx, "login:alice", time.Minute, minute)
		wantEqual(t, "after a refund", got, 2)
		// Another window, another key, a key never hit: nothing changes, nothing fails.
		wantErr(t, "Refund next window", e.s.Refund(e.ctx, "login:alice", time.Minute, minute.Add(time.Minute)), nil)
		wantErr(t, "Refund other key", e.s.Refund(e.ctx, "login:bob", time.Minute, minute), nil)
		got, _ = e.s.Hits(e.ctx, "login:alice", time.Minute, minute)
		wantEqual(t, "after refunds elsewhere", got, 2)
		for range 4 {
			wantErr(t, "Refund", e.s.Refund(e.ctx, "login:alice", time.Minute, minute), nil)
		}
		got, _ = e.s.Hits(e.ctx, "login:alice", time.Minute, minute)
		wantEqual(t, "after more refunds than hits", got, 0)
		n, err := stores[1].Hit(e.ctx, "login:alice", time.Minute, minute)
		wantErr(t, "Hit", err, nil)
		wantEqual(t, "a hit after the refunds", n, 1)
		wantErr(t, "zero window", e.s.Refund(e.ctx, "k", 0, minute), control.ErrInvalid)
	}},
	{"ConcurrentHitsAndRefundsKeepTheCount", func(t *testing.T, e *env) {
		stores := []control.Store{e.s, e.open()}
		granted := make([]bool, racers)
		const limit = 3
		// Every racer counts itself and refunds itself when past the limit: exactly limit are
		// granted, whatever the interleaving, and the count ends at limit.
		errs := race(racers, func(i int) error {
			n, err := stores[i%2].Hit(e.ctx, "login:pair", time.Minute, t0)
			if err != nil {
				return err
			}
			if n > limit {
				return stores[(i+1)%2].Refund(e.ctx, "login:pair", time.Minute, t0)
			}
			granted[i] = true
			return nil
		})
		count(t, errs, nil)
		n := 0
		for _, g := range granted {
			if g {
				n++
			}
		}
		wantEqual(t, "granted", n, limit)
		got, _ := e.s.Hits(e.ctx, "login:pair", time.Minute, t0)
		wantEqual(t, "count", got, limit)
	}},
	{"PruneRemovesEndedWindows", func(t *testing.T, e *env) {
		minute := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
		for _, k := range []string{"a", "a", "b"} {
			if _, err := e.s.Hit(e.ctx, k, time.Minute, minute); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.s.Hit(e.ctx, "a", time.Minute, minute.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		n, err := e.s.Prune(e.ctx, minute.Add(time.Minute+time.Second))
		wantErr(t, "Prune", err, nil)
		wantEqual(t, "pruned rows", n, int64(2))
		got, _ := e.s.Hits(e.ctx, "a", time.Minute, minute.Add(time.Minute))
		wantEqual(t, "current window kept", got, 1)
	}},
	{"AuditListsNewestFirstByActorInPages", func(t *testing.T, e *env) {
		var all []control.AuditEntry
		for i, who := range []string{"usr-a", "usr-b", "usr-a", "", "usr-a"} {
			en := control.AuditEntry{At: at(time.Duration(i) * time.Second), UserID: who, Action: "ticket.issue",
				UploadID: fmt.Sprintf("upl-%d", i), Key: fmt.Sprintf("u/%s/upl-%d/f", who, i), RemoteAddr: "192.0.2.7:5000",
				Details: map[string]string{"size": fmt.Sprint(i), "content_type": "video/mp4"}}
			wantErr(t, "AppendAudit", e.s.AppendAudit(e.ctx, en), nil)
			en.At = us(en.At)
			all = append(all, en)
		}
		got, err := e.s.ListAudit(e.ctx, control.AuditQuery{Limit: 10})
		wantErr(t, "ListAudit", err, nil)
		if len(got) != len(all) {
			t.Fatalf("ListAudit returned %d entries, want %d", len(got), len(all))
		}
		for i := range got {
			want := all[len(all)-1-i]
			want.ID = got[i].ID
			wantEqual(t, "entry", got[i], want)
			if i > 0 && got[i].ID >= got[i-1].ID {
				t.Fatalf("ids not decreasing: %d then %d", got[i-1].ID, got[i].ID)
			}
		}
		var pages [][]string
		q := control.AuditQuery{UserID: "usr-a", Limit: 2}
		for {
			page, err := e.s.ListAudit(e.ctx, q)
			wantErr(t, "ListAudit", err, nil)
			if len(page) == 0 {
				break
			}
			var ids []string
			for _, en := range page {
				ids = append(ids, en.UploadID)
			}
			pages = append(pages, ids)
			q.Before = page[len(page)-1].ID
		}
		wantEqual(t, "usr-a pages", pages, [][]string{{"upl-4", "upl-2"}, {"upl-0"}})
	}},
	{"AuditRefusesIncompleteEntriesAndBadLimits", func(t *testing.T, e *env) {
		wantErr(t, "no action", e.s.AppendAudit(e.ctx, control.AuditEntry{At: t0}), control.ErrInvalid)
		wantErr(t, "no time", e.s.AppendAudit(e.ctx, control.AuditEntry{Action: "x"}), control.ErrInvalid)
		for _, n := range []int{0, control.MaxPage + 1} {
			_, err := e.s.ListAudit(e.ctx, control.AuditQuery{Limit: n})
			wantErr(t, "limit", err, control.ErrInvalid)
		}
		got, _ := e.s.ListAudit(e.ctx, control.AuditQuery{Limit: 10})
		wantEqual(t, "entries", len(got), 0)
	}},
	{"ClosedStoreRefusesWork", func(t *testing.T, e *env) {
		s := e.open()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		err := s.CreateUser(e.ctx, &control.User{ID: "usr-z", Username: "zed", PasswordHash: "h", Created: t0})
		if err == nil {
			t.Fatal("CreateUser on a closed store succeeded")
		}
		if _, err := e.s.UserByName(e.ctx, "zed"); err == nil {
			t.Fatal("a closed store's write was applied")
		}
	}},
}
