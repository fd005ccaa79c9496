package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"presign/storage"
)

var conditionTests = []namedTest{
	{"IfNoneMatch", testIfNoneMatch},
	{"IfMatch", testIfMatch},
	{"IfNoneMatchRaceOneWins", testIfNoneMatchRace},
	{"IfMatchRaceOneWins", testIfMatchRace},
}

func testIfNoneMatch(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range []int{smallSize, largeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			key := fmt.Sprintf("inm/%d", size)
			first := content(key+"1", size)
			mustPut(t, be, bucket, key, first, storage.PutOptions{IfNoneMatch: true})
			_, err := be.PutObject(t.Context(), bucket, key, newBody(content(key+"2", size)), storage.PutOptions{IfNoneMatch: true})
			if !errors.Is(err, storage.ErrPreconditionFailed) {
				t.Fatalf("PutObject IfNoneMatch over an object: error = %v, want ErrPreconditionFailed", err)
			}
			wantContent(t, be, bucket, key, first)
		})
	}
}

func testIfMatch(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	current := content("current", smallSize)
	mustPut(t, be, bucket, "k", current, storage.PutOptions{})
	tests := []struct {
		name    string
		key     string
		ifMatch string
		size    int
		want    error
	}{
		{"AbsentKey", "absent", md5Hex(current), smallSize, storage.ErrPreconditionFailed},
		{"OtherETag", "k", md5Hex([]byte("other")), smallSize, storage.ErrPreconditionFailed},
		{"OtherETagLarge", "k", md5Hex([]byte("other")), largeSize, storage.ErrPreconditionFailed},
		{"CurrentETag", "k", md5Hex(current), largeSize, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := content(tc.name, tc.size)
			before, _, beforeErr := get(t.Context(), be, bucket, tc.key)
			_, err := be.PutObject(t.Context(), bucket, tc.key, newBody(data), storage.PutOptions{IfMatch: tc.ifMatch})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("PutObject IfMatch %q: error = %v, want %v", tc.ifMatch, err, tc.want)
			}
			switch {
			case tc.want == nil:
				wantContent(t, be, bucket, tc.key, data)
			case errors.Is(beforeErr, storage.ErrNoSuchKey):
				wantMissing(t, be, bucket, tc.key)
			default:
				if after, err := be.HeadObject(t.Context(), bucket, tc.key); err != nil || after.ETag != before.ETag {
					t.Fatalf("a refused PutObject changed the object: ETag %s → %s (%v)", before.ETag, after.ETag, err)
				}
			}
		})
	}
}

// race runs n puts of distinct contents to one key at once and checks that exactly one
// succeeds, the others fail with ErrPreconditionFailed, and the key holds the winner's bytes.
func race(t *testing.T, be storage.Backend, key string, opts storage.PutOptions) {
	const n = 20
	bucket := "bucket"
	datas := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		size := smallSize
		if i%5 == 0 {
			size = 300 << 10
		}
		datas[i] = content(fmt.Sprintf("%s/%d", key, i), size)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = be.PutObject(t.Context(), bucket, key, newBody(datas[i]), opts)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("puts %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrPreconditionFailed):
			t.Fatalf("put %d: error = %v, want nil or ErrPreconditionFailed", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d conditional puts succeeded", n)
	}
	wantContent(t, be, bucket, key, datas[winner])
}

func testIfNoneMatchRace(t *testing.T, be storage.Backend) {
	newBucket(t, be)
	race(t, be, "race/inm", storage.PutOptions{IfNoneMatch: true})
}

func testIfMatchRace(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	base := mustPut(t, be, bucket, "race/im", []byte("base"), storage.PutOptions{})
	race(t, be, "race/im", storage.PutOptions{IfMatch: base.ETag})
}
