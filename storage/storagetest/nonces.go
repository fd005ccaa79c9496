package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

// RunNonceStore runs the NonceStore contract against stores made by newStore, called once per
// subtest; each must start empty.
func RunNonceStore(t *testing.T, newStore func(t *testing.T) storage.NonceStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.NonceStore)
	}{
		{"ConsumeOnceThenRefused", testConsumeOnce},
		{"NoncesAreIndependent", testNoncesIndependent},
		{"ReleaseReopens", testReleaseReopens},
		{"ReleaseUnknownIsNoError", testReleaseUnknown},
		{"ConcurrentConsumeOneFirst", testConcurrentConsume},
		{"ConcurrentDistinctNoncesAllFirst", testConcurrentDistinctNonces},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

func consume(t *testing.T, s storage.NonceStore, nonce string) bool {
	t.Helper()
	first, err := s.Consume(t.Context(), nonce, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("Consume(%q): %v", nonce, err)
	}
	return first
}

func testConsumeOnce(t *testing.T, s storage.NonceStore) {
	if !consume(t, s, "n1") {
		t.Fatal("first Consume of a new nonce: first = false")
	}
	for i := range 3 {
		if consume(t, s, "n1") {
			t.Fatalf("Consume %d of a consumed nonce: first = true", i+2)
		}
	}
}

func testNoncesIndependent(t *testing.T, s storage.NonceStore) {
	for _, n := range []string{"a", "b", "A", "a ", "01J9ZQ3V8Q2W7M4K5N6P7R8S9T", "ü"} {
		if !consume(t, s, n) {
			t.Fatalf("Consume(%q) after other nonces: first = false", n)
		}
	}
}

func testReleaseReopens(t *testing.T, s storage.NonceStore) {
	consume(t, s, "n")
	if err := s.Release(t.Context(), "n"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !consume(t, s, "n") {
		t.Fatal("Consume after Release: first = false")
	}
	if consume(t, s, "n") {
		t.Fatal("second Consume after Release: first = true")
	}
}

func testReleaseUnknown(t *testing.T, s storage.NonceStore) {
	if err := s.Release(t.Context(), "never-consumed"); err != nil {
		t.Fatalf("Release of an unknown nonce: %v", err)
	}
	if !consume(t, s, "never-consumed") {
		t.Fatal("Consume after releasing an unknown nonce: first = false")
	}
}

func testConcurrentConsume(t *testing.T, s storage.NonceStore) {
	const n = 20
	firsts := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			firsts[i], errs[i] = s.Consume(t.Context(), "contested", time.Now().Add(time.Hour))
		})
	}
	close(start)
	wg.Wait()
	count := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Consume: %v", errs[i])
		}
		if firsts[i] {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d of %d concurrent Consume calls got first = true, want 1", count, n)
	}
}

func testConcurrentDistinctNonces(t *testing.T, s storage.NonceStore) {
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nonce := fmt.Sprintf("nonce-%d", i)
			if first, err := s.Consume(t.Context(), nonce, time.Now().Add(time.Hour)); err != nil || !first {
				t.Errorf("Consume(%q) = %v, %v; want true", nonce, first, err)
			}
		})
	}
	wg.Wait()
}
