package outbox

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/events"
)

// readAll returns every entry in the log, in Seq order.
func readAll(t *testing.T, l *Log) []events.Entry {
	t.Helper()
	var out []events.Entry
	var after uint64
	for {
		res, err := l.scan([]byte("reader"), after, func([]byte) bool { return true }, 1000, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.entries...)
		if !res.more {
			return out
		}
		after = res.last
	}
}

func TestConcurrentAppendsAreAllDurable(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	defer l.Close()
	const goroutines, each = 64, 16
	var next atomic.Uint64
	ids := make([]string, goroutines*each+1)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				seq := next.Add(1)
				e := makeEntries(t, seq, 1, "k")[0]
				ids[seq] = e.ID
				if err := l.Append(context.Background(), []events.Entry{e}); err != nil {
					t.Errorf("append %d: %v", seq, err)
				}
			}
		})
	}
	wg.Wait()

	// Copy the file while the log is still open, as a crash would leave it, and read the copy.
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.Mkdir(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(dir, "outbox.db"), filepath.Join(crashed, "outbox.db"))
	c := openLog(t, crashed, Options{})
	defer c.Close()
	got := readAll(t, c)
	if len(got) != goroutines*each || c.Len() != goroutines*each {
		t.Fatalf("after the crash copy: %d entries (Len %d), want %d", len(got), c.Len(), goroutines*each)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.ID != ids[e.Seq] {
			t.Fatalf("entry %d: seq %d id %s, want seq %d id %s", i, e.Seq, e.ID, i+1, ids[i+1])
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAppendedEntryReadsBackAsWritten(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	want := makeEntries(t, 7, 3, "x", "photo 1.jpg")
	if err := l.Append(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%d entries", len(got))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || got[i].ID != want[i].ID || got[i].Key != want[i].Key || string(got[i].Body) != string(want[i].Body) {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAppendRejectsBadEntriesAndWritesNothing(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	existing := makeEntries(t, 1, 1, "k")
	appendAll(t, l, existing)
	good := makeEntries(t, 100, 1, "k")[0]
	with := func(change func(*events.Entry)) []events.Entry {
		bad := good
		change(&bad)
		return []events.Entry{makeEntries(t, 50, 1, "k")[0], bad}
	}
	tests := []struct {
		name    string
		entries []events.Entry
		want    error
	}{
		{"seq 0", with(func(e *events.Entry) { e.Seq = 0 }), events.ErrInvalidEntry},
		{"bad id", with(func(e *events.Entry) { e.ID = "not.an.id" }), events.ErrInvalidEntry},
		{"empty id", with(func(e *events.Entry) { e.ID = "" }), events.ErrInvalidEntry},
		{"empty key", with(func(e *events.Entry) { e.Key = "" }), events.ErrInvalidEntry},
		{"key too long", with(func(e *events.Entry) { e.Key = strings.Repeat("k", events.MaxEntryKeyLen+1) }), events.ErrInvalidEntry},
		{"empty body", with(func(e *events.Entry) { e.Body = nil }), events.ErrInvalidEntry},
		{"body not JSON", with(func(e *events.Entry) { e.Body = []byte("{nope") }), events.ErrInvalidEntry},
		{"body too long", with(func(e *events.Entry) { e.Body = []byte(`"` + strings.Repeat("x", events.MaxEntryBodyLen) + `"`) }), events.ErrInvalidEntry},
		{"seq twice in one call", with(func(e *events.Entry) { e.Seq = 50 }), events.ErrDuplicateSeq},
		{"seq already in the log", with(func(e *events.Entry) { e.Seq = existing[0].Seq }), events.ErrDuplicateSeq},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := l.Append(context.Background(), tc.entries)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append = %v, want %v", err, tc.want)
			}
			got := readAll(t, l)
			if l.Len() != 1 || len(got) != 1 || got[0].ID != existing[0].ID {
				t.Fatalf("log changed: Len %d, entries %+v", l.Len(), got)
			}
		})
	}
}

func TestDuplicateAppendInTheSameCommitFailsAlone(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	// Many goroutines race to append the same Seq, with different ids: exactly one wins, and
	// the losers do not disturb the others sharing their commit.
	const n = 32
	var wg sync.WaitGroup
	var wins, dups atomic.Int32
	for i := range n {
		wg.Go(func() {
			es := makeEntries(t, 1, 1, "k")
			es = append(es, makeEntries(t, uint64(1000+i), 1, "k")...)
			switch err := l.Append(context.Background(), es[:1]); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, events.ErrDuplicateSeq):
				dups.Add(1)
			default:
				t.Errorf("append: %v", err)
			}
			if err := l.Append(context.Background(), es[1:]); err != nil {
				t.Errorf("unrelated append: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || dups.Load() != n-1 || l.Len() != n+1 {
		t.Errorf("wins %d, duplicates %d, Len %d; want 1, %d, %d", wins.Load(), dups.Load(), l.Len(), n-1, n+1)
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), makeEntries(t, 1, 1, "k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestAppendHonoursAnEndedContext(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The ended context may win or lose against the committer, but Append must not block.
	err := l.Append(ctx, makeEntries(t, 1, 1, "k"))
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Append = %v", err)
	}
}

func TestOpenRefusesAFileLockedByAnotherLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	defer l.Close()
	if _, err := Open(filepath.Join(dir, "outbox.db"), Options{LockTimeout: 50 * time.Millisecond}); err == nil {
		t.Error("a second Log opened the same file")
	}
}

func TestOpenRefusesAFileThatIsNotALog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(path, Options{}); err == nil {
		l.Close()
		t.Error("opened garbage")
	}
}

func TestDecodeRejectsCorruptValues(t *testing.T) {
	good := encode(events.Entry{Seq: 1, ID: events.NewID(), Key: "k", Body: []byte("{}")}, 1)
	for name, v := range map[string][]byte{
		"empty":           nil,
		"short":           good[:5],
		"wrong version":   append([]byte{9}, good[1:]...),
		"id overruns":     append(append([]byte{}, good[:9]...), 0xff, 0x01),
		"key cut off":     good[:9+1+26+1],
		"varint overlong": append(append([]byte{}, good[:9]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		if _, err := decode(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decode = %v", name, err)
		}
	}
	if d, err := decode(good); err != nil || string(d.key) != "k" || string(d.body) != "{}" || d.appendedAt != 1 {
		t.Errorf("decode(good) = %+v, %v", d, err)
	}
}

// BenchmarkAppendConcurrent64 measures durable appends from 64 goroutines, one event per
// Append as the storage node makes them. appends/commit shows how many share one fsync.
func BenchmarkAppendConcurrent64(b *testing.B) {
	benchmarkAppend(b, 64)
}

// BenchmarkAppendSerial is one appender: the latency of a lone durable Append.
func BenchmarkAppendSerial(b *testing.B) {
	benchmarkAppend(b, 1)
}

func benchmarkAppend(b *testing.B, appenders int) {
	l := openLog(b, b.TempDir(), Options{})
	defer l.Close()
	template := makeEntries(b, 1, 1, "u/42/01J0000000000000000000000/video.mp4")[0]
	var next atomic.Uint64
	startCommits := l.commits.Load()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range appenders {
		wg.Go(func() {
			for {
				seq := next.Add(1)
				if seq > uint64(b.N) {
					return
				}
				e := template
				e.Seq, e.ID = seq, events.NewID()
				if err := l.Append(context.Background(), []events.Entry{e}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/float64(l.commits.Load()-startCommits), "appends/commit")
}
