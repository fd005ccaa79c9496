package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

// RunRevocationStore runs the RevocationStore contract against stores made by newStore,
// called once per subtest; each must start empty.
func RunRevocationStore(t *testing.T, newStore func(t *testing.T) storage.RevocationStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.RevocationStore)
	}{
		{"RevokedIDRefusesThatTicketOnly", testRevokeID},
		{"UserRevocationRefusesURLsSignedBefore", testRevokeUser},
		{"TicketRevocationWithACutOffRefusesURLsSignedBefore", testRevokeIDBefore},
		{"RepeatedRevocationsKeepTheLater", testRevokeRepeated},
		{"ForgottenAfterUntil", testRevokeForgotten},
		{"ConcurrentRevokesAllKept", testRevokeConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

func mustRevoke(t *testing.T, s storage.RevocationStore, r storage.Revocation) {
	t.Helper()
	if err := s.Revoke(t.Context(), r); err != nil {
		t.Fatalf("Revoke(%+v): %v", r, err)
	}
}

func wantRevoked(t *testing.T, s storage.RevocationStore, id, user string, signedAt time.Time, want bool) {
	t.Helper()
	got, err := s.Revoked(t.Context(), id, user, signedAt)
	if err != nil {
		t.Fatalf("Revoked(%q, %q, %v): %v", id, user, signedAt, err)
	}
	if got != want {
		t.Fatalf("Revoked(%q, %q, %v) = %v, want %v", id, user, signedAt, got, want)
	}
}

// testRevokeIDBefore: a ticket revoked at a time refuses its URLs signed before then and
// accepts those signed after; a later cut-off moves it on, an earlier one does not move it back,
// and a revocation without a cut-off withdraws them all for good.
func testRevokeIDBefore(t *testing.T, s storage.RevocationStore) {
	now := time.Now().Truncate(time.Millisecond)
	mustRevoke(t, s, storage.Revocation{ID: "file-1", Before: now, Until: now.Add(time.Hour)})
	wantRevoked(t, s, "file-1", "u1", now.Add(-time.Second), true)
	wantRevoked(t, s, "file-1", "u1", now, false)
	wantRevoked(t, s, "file-1", "u1", now.Add(time.Second), false)
	wantRevoked(t, s, "file-2", "u1", now.Add(-time.Second), false)
	mustRevoke(t, s, storage.Revocation{ID: "file-1", Before: now.Add(time.Minute), Until: now.Add(time.Hour)})
	mustRevoke(t, s, storage.Revocation{ID: "file-1", Before: now.Add(-time.Minute), Until: now.Add(time.Hour)})
	wantRevoked(t, s, "file-1", "u1", now.Add(30*time.Second), true)
	wantRevoked(t, s, "file-1", "u1", now.Add(2*time.Minute), false)
	mustRevoke(t, s, storage.Revocation{ID: "file-1", Until: now.Add(time.Hour)})
	mustRevoke(t, s, storage.Revocation{ID: "file-1", Before: now.Add(time.Hour), Until: now.Add(time.Hour)})
	wantRevoked(t, s, "file-1", "u1", now.Add(2*time.Hour), true)
}

func testRevokeID(t *testing.T, s storage.RevocationStore) {
	now := time.Now()
	wantRevoked(t, s, "ticket-1", "u1", now, false)
	mustRevoke(t, s, storage.Revocation{ID: "ticket-1", Until: now.Add(time.Hour)})
	wantRevoked(t, s, "ticket-1", "", now, true)
	wantRevoked(t, s, "ticket-1", "u1", now.Add(time.Minute), true)
	for _, other := range []string{"ticket-2", "ticket-", "ticket-1 ", "TICKET-1", ""} {
		wantRevoked(t, s, other, "u1", now, false)
	}
	// A ticket id is not a user id.
	wantRevoked(t, s, "", "ticket-1", now.Add(-time.Hour), false)
}

func testRevokeUser(t *testing.T, s storage.RevocationStore) {
	before := time.Now().Truncate(time.Second)
	mustRevoke(t, s, storage.Revocation{User: "42", Before: before, Until: before.Add(time.Hour)})
	wantRevoked(t, s, "", "42", before.Add(-time.Second), true)
	wantRevoked(t, s, "any-ticket", "42", before.Add(-time.Hour), true)
	wantRevoked(t, s, "", "42", before, false)
	wantRevoked(t, s, "", "42", before.Add(time.Second), false)
	wantRevoked(t, s, "", "43", before.Add(-time.Second), false)
	wantRevoked(t, s, "42", "", before.Add(-time.Second), false)
}

func testRevokeRepeated(t *testing.T, s storage.RevocationStore) {
	now := time.Now().Truncate(time.Second)
	mustRevoke(t, s, storage.Revocation{User: "u", Before: now, Until: now.Add(time.Hour)})
	mustRevoke(t, s, storage.Revocation{User: "u", Before: now.Add(-time.Minute), Until: now.Add(2 * time.Second)})
	wantRevoked(t, s, "", "u", now.Add(-time.Second), true)
	mustRevoke(t, s, storage.Revocation{ID: "t", Until: now.Add(time.Hour)})
	mustRevoke(t, s, storage.Revocation{ID: "t", Until: now.Add(2 * time.Second)})
	time.Sleep(time.Until(now.Add(3 * time.Second)))
	// The later Until of each was kept: both are still revoked past the earlier ones.
	wantRevoked(t, s, "", "u", now.Add(-time.Second), true)
	wantRevoked(t, s, "t", "", now, true)
}

func testRevokeForgotten(t *testing.T, s storage.RevocationStore) {
	now := time.Now()
	mustRevoke(t, s, storage.Revocation{ID: "short", Until: now.Add(time.Second)})
	mustRevoke(t, s, storage.Revocation{User: "short", Before: now, Until: now.Add(time.Second)})
	wantRevoked(t, s, "short", "", now, true)
	time.Sleep(time.Until(now.Add(1500 * time.Millisecond)))
	wantRevoked(t, s, "short", "", now, false)
	wantRevoked(t, s, "", "short", now.Add(-time.Minute), false)
}

func testRevokeConcurrent(t *testing.T, s storage.RevocationStore) {
	now := time.Now()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := s.Revoke(t.Context(), storage.Revocation{ID: fmt.Sprintf("c-%d", i), Until: now.Add(time.Hour)}); err != nil {
				t.Errorf("Revoke: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		wantRevoked(t, s, fmt.Sprintf("c-%d", i), "", now, true)
	}
}
