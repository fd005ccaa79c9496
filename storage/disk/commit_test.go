package disk

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestCommitterIsolatesABrokenChange(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("t")); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db)
	defer c.close()
	errBroken, errRefused := errors.New("broken"), errors.New("refused")
	const n, broken, refused = 64, 7, 9
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.do(func(tx *bolt.Tx) error {
				if i == refused {
					return refuse(errRefused)
				}
				if err := tx.Bucket([]byte("t")).Put(fmt.Appendf(nil, "%02d", i), []byte("v")); err != nil {
					return err
				}
				if i == broken {
					return errBroken // after a change: the transaction is spoiled
				}
				return nil
			}, 1)
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch i {
		case broken:
			if !errors.Is(err, errBroken) {
				t.Errorf("broken change: error = %v", err)
			}
		case refused:
			if err != errRefused {
				t.Errorf("refused change: error = %v, want the refusal unwrapped", err)
			}
		default:
			if err != nil {
				t.Errorf("change %d failed with its neighbour: %v", i, err)
			}
		}
	}
	db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("t"))
		for i := range n {
			got := bk.Get(fmt.Appendf(nil, "%02d", i)) != nil
			if want := i != broken && i != refused; got != want {
				t.Errorf("key %02d committed = %v, want %v", i, got, want)
			}
		}
		return nil
	})
}
