package nodestate

import (
	"path/filepath"
	"testing"
	"time"

	"presign/storage"
	"presign/storage/storagetest"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "state.db")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNonceStoreContract(t *testing.T) {
	storagetest.RunNonceStore(t, func(t *testing.T) storage.NonceStore { return openTest(t, "") })
}

func TestRevocationStoreContract(t *testing.T) {
	storagetest.RunRevocationStore(t, func(t *testing.T) storage.RevocationStore { return openTest(t, "") })
}

// Consumed nonces and revocations outlive the process; expired ones are swept from the file.
func TestStateSurvivesReopenAndExpiresBySweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ctx := t.Context()
	if first, err := s.Consume(ctx, "n", now.Add(time.Hour)); err != nil || !first {
		t.Fatalf("Consume: %v %v", first, err)
	}
	s.Consume(ctx, "short", now.Add(time.Millisecond))
	for _, r := range []storage.Revocation{
		{ID: "t1", Until: now.Add(time.Hour)},
		{User: "u1", Before: now, Until: now.Add(time.Hour)},
		{ID: "gone", Until: now.Add(time.Millisecond)},
	} {
		if err := s.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if first, _ := s.Consume(ctx, "n", now.Add(time.Hour)); first {
		t.Fatal("a nonce consumed before the restart was consumed again")
	}
	if r, _ := s.Revoked(ctx, "t1", "", now); !r {
		t.Fatal("a ticket revoked before the restart works again")
	}
	if r, _ := s.Revoked(ctx, "", "u1", now.Add(-time.Second)); !r {
		t.Fatal("a user revocation was lost in the restart")
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.sweep(); err != nil {
		t.Fatal(err)
	}
	if len(s.ids) != 1 || len(s.users) != 1 {
		t.Fatalf("after the sweep memory holds %d ids and %d users, want 1 and 1", len(s.ids), len(s.users))
	}
	if first, _ := s.Consume(ctx, "short", now.Add(time.Hour)); !first {
		t.Fatal("an expired nonce still counts as consumed")
	}
}
