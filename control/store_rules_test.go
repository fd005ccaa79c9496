package control

import (
	"errors"
	"fmt"
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

func TestUsageDeltaKeepsQuotaBalanced(t *testing.T) {
	tests := []struct {
		from, to UploadState
		bytes    int64
		pending  int
	}{
		{StatePending, StateUploading, 0, 0},
		{StateUploading, StateUploading, 0, 0},
		{StatePending, StateCompleted, 0, -1},
		{StateUploading, StateCompleted, 0, -1},
		{StatePending, StateFailed, -10, -1},
		{StateUploading, StateExpired, -10, -1},
		{StatePending, StateDeleted, -10, -1},
		{StateCompleted, StateDeleted, -10, 0},
		{StateFailed, StateDeleted, 0, 0},
		{StateExpired, StateDeleted, 0, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%s", tc.from, tc.to), func(t *testing.T) {
			b, p := UsageDelta(tc.from, tc.to, 10)
			if b != tc.bytes || p != tc.pending {
				t.Fatalf("UsageDelta = %d, %d; want %d, %d", b, p, tc.bytes, tc.pending)
			}
		})
	}
}

func TestApplyChangeSetsOnlyGivenFieldsToTheMicrosecond(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 1999, time.FixedZone("x", 3600))
	u := Upload{ID: "u", State: StateUploading, MultipartID: "mp", ETag: "old", FailReason: "", Expires: at}
	got := ApplyChange(u, StateCompleted, Change{At: at, ETag: "new"})
	want := u
	want.State, want.ETag = StateCompleted, "new"
	want.Updated = time.Date(2029, 12, 31, 23, 0, 0, 1000, time.UTC)
	want.Completed = want.Updated
	if got != want {
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
