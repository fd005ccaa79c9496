package outbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"presign/events"
	"presign/internal/durable"
	"presign/internal/testenv"
)

// TestAppendReservedUsesTheHeldRoomOnAFullDisk fills a tmpfs until Append is refused for want
// of space: AppendReserved still writes the events of deletes, in the room held back, a step at
// a time, while Room reports room; once it is used up Room reports none until the disk has
// space again, and the reserve is whole again then.
func TestAppendReservedUsesTheHeldRoomOnAFullDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, "16m")
	l := openLog(t, dir, Options{})
	reservePath := filepath.Join(dir, "outbox.db-reserve")
	if fi, err := os.Stat(reservePath); err != nil || fi.Size() != durable.ReserveSize || !l.Room() {
		t.Fatalf("reserve after Open: %v", err)
	}
	ballast := testenv.FillDisk(t, dir)
	ctx := context.Background()
	var stored []events.Entry
	seq := uint64(1)
	for {
		e := makeEntries(t, seq, 1, "k")
		err := l.Append(ctx, e)
		if IsNoSpace(err) {
			break
		}
		if err != nil {
			t.Fatalf("Append %d on a filling disk: %v", seq, err)
		}
		if seq > 100000 {
			t.Fatal("the disk never filled up")
		}
		stored = append(stored, e...)
		seq++
	}
	if !l.Room() {
		t.Fatal("Room reports none while the reserve is held")
	}
	// As a node deletes: Room first, then AppendReserved, until the reserve is used up.
	reserved := 0
	for l.Room() {
		removal := makeEntries(t, seq, 1, "k")
		if err := l.AppendReserved(ctx, removal); err != nil {
			t.Fatalf("AppendReserved %d on a full disk: %v", reserved, err)
		}
		if reserved == 0 {
			if fi, err := os.Stat(reservePath); err != nil || fi.Size() != durable.ReserveSize-reserveStep {
				t.Fatalf("reserve after the first AppendReserved: %v, want %d bytes", err, durable.ReserveSize-reserveStep)
			}
		}
		stored = append(stored, removal...)
		seq++
		reserved++
		if reserved > 1000000 {
			t.Fatal("the reserve was never used up")
		}
	}
	if _, err := os.Stat(reservePath); !os.IsNotExist(err) {
		t.Fatalf("the reserve is still there after it was used up: %v", err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if !l.Room() {
		t.Fatal("Room reports none once the disk has space again")
	}
	if fi, err := os.Stat(reservePath); err != nil || fi.Size() != durable.ReserveSize {
		t.Fatalf("reserve after space returned: %v", err)
	}
	got := readAll(t, l)
	if len(got) != len(stored) {
		t.Fatalf("%d entries in the log, want %d", len(got), len(stored))
	}
	for i := range got {
		if got[i].Seq != stored[i].Seq || got[i].ID != stored[i].ID {
			t.Fatalf("entry %d: seq %d id %s, want %d %s", i, got[i].Seq, got[i].ID, stored[i].Seq, stored[i].ID)
		}
	}
	t.Logf("%d entries appended before the disk was full, %d in the reserve", len(stored)-reserved, reserved)
}
