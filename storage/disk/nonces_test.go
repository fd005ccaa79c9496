package disk

import (
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestConsumedNonceSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, Options{Dir: dir})
	if first, err := b.Consume(t.Context(), "once", time.Now().Add(time.Hour)); err != nil || !first {
		t.Fatalf("Consume = %v, %v", first, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, Options{Dir: dir})
	if first, err := b.Consume(t.Context(), "once", time.Now().Add(time.Hour)); err != nil || first {
		t.Fatalf("Consume after reopen = %v, %v; want false: the URL would work twice", first, err)
	}
}

func nonceCount(t *testing.T, b *Backend) (nonces, expiries int) {
	t.Helper()
	b.db.View(func(tx *bolt.Tx) error {
		nonces = tx.Bucket(noncesRoot).Stats().KeyN
		expiries = tx.Bucket(nonceExpRoot).Stats().KeyN
		return nil
	})
	return nonces, expiries
}

func TestExpiredNoncesAreSweptAndForgotten(t *testing.T) {
	b := openTest(t, Options{})
	now := time.Now()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := b.Consume(t.Context(), n, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Consume(t.Context(), "later", now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.sweepOnce(now.Add(2 * time.Hour)); err != nil || n != 3 {
		t.Fatalf("sweep forgot %d nonces (%v), want 3", n, err)
	}
	if nonces, exp := nonceCount(t, b); nonces != 1 || exp != 1 {
		t.Fatalf("after the sweep %d nonces and %d expiry entries remain, want 1 and 1", nonces, exp)
	}
	if first, err := b.Consume(t.Context(), "later", now.Add(time.Hour)); err != nil || first {
		t.Fatalf("Consume of an unexpired nonce after a sweep = %v, %v", first, err)
	}
}

func TestExpiredNonceCountsAsForgottenBeforeTheSweep(t *testing.T) {
	b := openTest(t, Options{})
	if _, err := b.Consume(t.Context(), "n", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if first, err := b.Consume(t.Context(), "n", time.Now().Add(time.Hour)); err != nil || !first {
		t.Fatalf("Consume of an expired nonce = %v, %v; want true", first, err)
	}
	// The old expiry entry went with the old record: one of each is left.
	if nonces, exp := nonceCount(t, b); nonces != 1 || exp != 1 {
		t.Fatalf("%d nonces and %d expiry entries, want 1 and 1", nonces, exp)
	}
}

func TestSweeperRunsOnOpenAndPeriodically(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, Options{Dir: dir})
	if _, err := b.Consume(t.Context(), "short", time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	b = openTest(t, Options{Dir: dir, NonceSweepInterval: 10 * time.Millisecond})
	if _, err := b.Consume(t.Context(), "periodic", time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if nonces, _ := nonceCount(t, b); nonces == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("expired nonces were not swept within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInvalidNoncesAreRefused(t *testing.T) {
	b := openTest(t, Options{})
	for _, n := range []string{"", strings.Repeat("n", 1025)} {
		if _, err := b.Consume(t.Context(), n, time.Now().Add(time.Hour)); !errors.Is(err, ErrInvalidNonce) {
			t.Errorf("Consume(%d bytes) error = %v, want ErrInvalidNonce", len(n), err)
		}
		if err := b.Release(t.Context(), n); !errors.Is(err, ErrInvalidNonce) {
			t.Errorf("Release(%d bytes) error = %v, want ErrInvalidNonce", len(n), err)
		}
	}
}
