package redisstore

import (
	"testing"

	"presign/internal/testenv/redisenv"
	"presign/storage"
	"presign/storage/storagetest"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{URL: redisenv.URL(t), Prefix: redisenv.Prefix()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNonceStoreContract(t *testing.T) {
	storagetest.RunNonceStore(t, func(t *testing.T) storage.NonceStore { return openTest(t) })
}

func TestRevocationStoreContract(t *testing.T) {
	storagetest.RunRevocationStore(t, func(t *testing.T) storage.RevocationStore { return openTest(t) })
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "http://127.0.0.1:6379", "redis://127.0.0.1:1/0"} {
		if s, err := Open(t.Context(), Options{URL: u}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}
