package control

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestLifecycleAllowsOnlyTheDocumentedMoves(t *testing.T) {
	all := []UploadState{StatePending, StateUploading, StateCompleted, StateFailed, StateExpired, StateDeleted, "bogus"}
	allowed := map[UploadState][]UploadState{
		StatePending:   {StatePending, StateUploading, StateCompleted, StateFailed, StateExpired, StateDeleted},
		StateUploading: {StateUploading, StateCompleted, StateFailed, StateExpired, StateDeleted},
		StateCompleted: {StateDeleted},
		StateFailed:    {StateDeleted},
		StateExpired:   {StateDeleted},
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, ok := range allowed[from] {
				want = want || ok == to
			}
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

// TestUsageDeltaKeepsQuotaBalanced: for a declared size (10) and for a maximum (100) whose
// object turned out to hold 7 bytes, what an upload takes and gives back adds up to its file's
// size while the file lives and to nothing once it is gone; its token counts likewise, except
// that deleting the file gives the token nothing back.
func TestUsageDeltaKeepsQuotaBalanced(t *testing.T) {
	tests := []struct {
		from, to            UploadState
		maxSize             int64
		bytes               int64
		pending             int
		tokenFiles          int
		tokenBytes, created int64
	}{
		{StatePending, StateUploading, 0, 0, 0, 0, 0, 10},
		{StateUploading, StateUploading, 0, 0, 0, 0, 0, 10},
		{StatePending, StateCompleted, 0, 0, -1, 0, 0, 10},
		{StateUploading, StateCompleted, 0, 0, -1, 0, 0, 10},
		{StatePending, StateFailed, 0, -10, -1, -1, -10, 10},
		{StateUploading, StateExpired, 0, -10, -1, -1, -10, 10},
		{StatePending, StateDeleted, 0, -10, -1, -1, -10, 10},
		{StateCompleted, StateDeleted, 0, -10, 0, 0, 0, 10},
		{StateFailed, StateDeleted, 0, 0, 0, 0, 0, 10},
		{StateExpired, StateDeleted, 0, 0, 0, 0, 0, 10},
		{StatePending, StateCompleted, 100, -93, -1, 0, -93, 100},
		{StateUploading, StateCompleted, 100, -93, -1, 0, -93, 100},
		{StateUploading, StateFailed, 100, -100, -1, -1, -100, 100},
		{StatePending, StateExpired, 100, -100, -1, -1, -100, 100},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%s-max%d", tc.from, tc.to, tc.maxSize), func(t *testing.T) {
			cur := Upload{State: tc.from, Size: 10}
			if tc.maxSize > 0 {
				cur.Size, cur.MaxSize = 0, tc.maxSize
			}
			if tc.from == StateCompleted {
				cur.Size = 10
			}
			if got := cur.Held(); tc.from.Active() && got != tc.created {
				t.Fatalf("Held = %d, want %d", got, tc.created)
			}
			next := ApplyChange(cur, tc.to, Change{At: time.Now(), Size: 7})
			if tc.maxSize == 0 && next.Size != cur.Size {
				t.Fatalf("a declared size changed to %d", next.Size)
			}
			b, p := UsageDelta(&cur, &next)
			if b != tc.bytes || p != tc.pending {
				t.Fatalf("UsageDelta = %d, %d; want %d, %d", b, p, tc.bytes, tc.pending)
			}
			f, tb := TokenDelta(&cur, &next)
			if f != tc.tokenFiles || tb != tc.tokenBytes {
				t.Fatalf("TokenDelta = %d, %d; want %d, %d", f, tb, tc.tokenFiles, tc.tokenBytes)
			}
		})
	}
}

func TestApplyChangeSetsOnlyGivenFieldsToTheMicrosecond(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 1999, time.FixedZone("x", 3600))
	u := Upload{ID: "u", State: StateUploading, MultipartID: "mp", ETag: "old", FailReason: "", Expires: at, Metadata: map[string]string{"k": "v"}}
	got := ApplyChange(u, StateCompleted, Change{At: at, ETag: "new"})
	want := u
	want.State, want.ETag = StateCompleted, "new"
	want.Updated = time.Date(2029, 12, 31, 23, 0, 0, 1000, time.UTC)
	want.Completed = want.Updated
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ApplyChange:\n got %+v\nwant %+v", got, want)
	}
}

func TestRateWindowStartsAtTheMultipleBelow(t *testing.T) {
	for _, tc := range []struct {
		w         time.Duration
		now       time.Time
		wantStart int64
	}{
		{time.Minute, time.UnixMicro(90_000_000), 60_000_000},
		{time.Minute, time.UnixMicro(60_000_000), 60_000_000},
		{time.Minute, time.UnixMicro(-1), -60_000_000},
		{time.Minute, time.UnixMicro(-60_000_000), -60_000_000},
	} {
		length, start, err := RateWindow(tc.w, tc.now)
		if err != nil || length != tc.w.Microseconds() || start != tc.wantStart {
			t.Errorf("RateWindow(%v, %d): %d %d %v, want start %d", tc.w, tc.now.UnixMicro(), length, start, err, tc.wantStart)
		}
	}
	if _, _, err := RateWindow(time.Nanosecond, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("sub-microsecond window: %v", err)
	}
	if err := CheckClaim(10, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero lease: %v", err)
	}
	if err := CheckClaim(0, time.Second); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero limit: %v", err)
	}
}
