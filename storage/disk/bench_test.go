package disk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// The 4 KiB benchmarks run 64 writers (SetParallelism on the 2-core machine this was tuned
// on: 32 × GOMAXPROCS). Compare BenchmarkPut4KiBDurable against BenchmarkFsyncPerObject4KiB,
// measured in the same run: a server doing one fsync per object.
const writers = 64

func parallelism() int { return max(1, writers/max(1, runtimeProcs())) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func benchBody(data []byte) storage.Body {
	return storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))})
}

// benchPuts puts objects of size bytes from parallel writers and reports ops/s.
func benchPuts(b *testing.B, opts Options, size int, par int) {
	be := withBucket(b, openTest(b, opts))
	data := bytes.Repeat([]byte("d"), size)
	var n atomic.Int64
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.SetParallelism(par)
	txs0, ch0 := be.commit.txs.Load(), be.commit.changes.Load()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("k/%d", n.Add(1))
			if _, err := be.PutObject(b.Context(), "b", key, benchBody(data), storage.PutOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	if txs := be.commit.txs.Load() - txs0; txs > 0 {
		b.ReportMetric(float64(be.commit.changes.Load()-ch0)/float64(txs), "puts/commit")
	}
}

func BenchmarkPut4KiBDurable(b *testing.B) { benchPuts(b, Options{}, 4<<10, parallelism()) }

// BenchmarkFsyncPerObject4KiB is the yardstick: each object a file of its own, written and
// fsynced, by as many writers.
func BenchmarkFsyncPerObject4KiB(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte("d"), 4<<10)
	var n atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(parallelism())
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(n.Add(1))))
			if err == nil {
				_, err = f.Write(data)
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkPutBySize compares, for sizes around the segment limit, objects in segments (read
// whole up to 64 KiB, streamed into their range above) with objects in files of their own,
// 64 writers each.
func BenchmarkPutBySize(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("%dKiB/segment", size>>10), func(b *testing.B) {
			benchPuts(b, Options{SmallMax: MaxSmallMax}, size, parallelism())
		})
		b.Run(fmt.Sprintf("%dKiB/file", size>>10), func(b *testing.B) {
			benchPuts(b, Options{SmallMax: -1}, size, parallelism())
		})
	}
}

func BenchmarkPut1MiB(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchPuts(b, Options{}, 1<<20, 1) })
	b.Run("64writers", func(b *testing.B) { benchPuts(b, Options{}, 1<<20, parallelism()) })
}

func BenchmarkPut256MiB(b *testing.B) {
	be := withBucket(b, openTest(b, Options{}))
	const size = 256 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := storage.NewBody(&patternReader{n: size}, storage.BodyOptions{Size: size})
		if _, err := be.PutObject(b.Context(), "b", fmt.Sprint("big", i), body, storage.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGets(b *testing.B, size int) {
	be := withBucket(b, openTest(b, Options{}))
	data := bytes.Repeat([]byte("g"), size)
	const keys = 64
	for i := range keys {
		if _, err := be.PutObject(b.Context(), "b", fmt.Sprint(i), benchBody(data), storage.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			obj, err := be.GetObject(b.Context(), "b", fmt.Sprint(n.Add(1)%keys))
			if err != nil {
				b.Error(err)
				return
			}
			rc, err := obj.Range(b.Context(), 0, int64(size))
			if err == nil {
				buf.Reset()
				_, err = buf.ReadFrom(rc)
			}
			obj.Close()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGet4KiB(b *testing.B) { benchGets(b, 4<<10) }
func BenchmarkGet1MiB(b *testing.B) { benchGets(b, 1<<20) }

// BenchmarkIndexCommit compares the committer with bbolt's DB.Batch at several delays, for
// one writer and for 64 writers each committing one 4 KiB record durably at a time.
func BenchmarkIndexCommit(b *testing.B) {
	val := bytes.Repeat([]byte("v"), 4<<10)
	setup := func(b *testing.B) *bolt.DB {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "i.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("t")); return err })
		return db
	}
	run := func(b *testing.B, par int, commit func(func(*bolt.Tx) error) error) {
		var n atomic.Int64
		put := func() error {
			key := fmt.Appendf(nil, "%d", n.Add(1))
			return commit(func(tx *bolt.Tx) error { return tx.Bucket([]byte("t")).Put(key, val) })
		}
		start := time.Now()
		if par == 1 {
			for b.Loop() {
				if err := put(); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := put(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	}
	for _, w := range []struct {
		name string
		par  int
	}{{"1writer", 1}, {"64writers", parallelism()}} {
		b.Run(w.name+"/committer", func(b *testing.B) {
			c := newCommitter(setup(b))
			defer c.close()
			run(b, w.par, func(f func(*bolt.Tx) error) error { return c.do(f, len(val)) })
		})
		for _, delay := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/bolt-batch-%v", w.name, delay), func(b *testing.B) {
				db := setup(b)
				db.MaxBatchDelay, db.MaxBatchSize = delay, maxBatchOps
				run(b, w.par, db.Batch)
			})
		}
	}
}

// BenchmarkListDelimiter lists 100 common prefixes that cover 100,000 keys: its cost follows
// the number of groups, not of keys, when each group is skipped with one Seek.
func BenchmarkListDelimiter(b *testing.B) {
	be := withBucket(b, openTest(b, Options{}))
	rec := record{etag: "d41d8cd98f00b204e9800998ecf8427e", modified: time.Now()}
	val := rec.encode(nil, nil)
	if err := be.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(objectsRoot).Bucket([]byte("b"))
		for g := range 100 {
			for k := range 1000 {
				if err := bk.Put(fmt.Appendf(nil, "g%03d/%04d", g, k), val); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		page, err := be.ListObjects(b.Context(), "b", storage.ListOptions{Delimiter: "/", MaxKeys: 1000})
		if err != nil || len(page.CommonPrefixes) != 100 {
			b.Fatalf("listed %d prefixes, %v", len(page.CommonPrefixes), err)
		}
	}
}

// BenchmarkFileDurability compares, for 1 MiB files from 64 writers, ways to make a file and
// its name durable: each renamed into one of 256 directories picked at random and that
// directory fsynced (shared by concurrent renames into it, dirSyncer); the same with one
// directory at a time, as newFileID picks them; and the file fsync kept but the directory
// fsyncs replaced by one syncfs(2) shared by all writers waiting, or both fsyncs replaced by
// it. fsyncsink is the yardstick, as bench/fsyncsink does it: one fsync, no directory fsync.
// syncfs flushes every dirty page of the filesystem, other writers' and other programs' too.
func BenchmarkFileDurability(b *testing.B) {
	data := bytes.Repeat([]byte("d"), 1<<20)
	type strategy struct {
		name     string
		fileSync bool
		dir      func(seq uint64) string // fan-out directory of file seq
		dirSync  bool
		fsSync   bool
	}
	spread := func(seq uint64) string { return fmt.Sprintf("%02x", byte(seq*2654435761>>7)) }
	rotating := func(seq uint64) string { return fmt.Sprintf("%02x", byte(seq/filesPerFanout)) }
	for _, s := range []strategy{
		{"fsyncsink", true, func(uint64) string { return "00" }, false, false},
		{"spread", true, spread, true, false},
		{"rotating", true, rotating, true, false},
		{"syncfs-for-dirs", true, spread, false, true},
		{"syncfs-for-all", false, spread, false, true},
	} {
		b.Run(s.name, func(b *testing.B) {
			dir := b.TempDir()
			for i := range 256 {
				os.Mkdir(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o750)
			}
			os.Mkdir(filepath.Join(dir, "tmp"), 0o750)
			dirs := newDirSyncer()
			fs := &fsSyncer{dir: dir}
			var n atomic.Uint64
			b.SetBytes(int64(len(data)))
			b.SetParallelism(parallelism())
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					seq := n.Add(1)
					tmp := filepath.Join(dir, "tmp", fmt.Sprint(seq))
					final := filepath.Join(dir, s.dir(seq), fmt.Sprint(seq))
					f, err := os.Create(tmp)
					if err == nil {
						_, err = f.Write(data)
					}
					if err == nil && s.fileSync {
						err = f.Sync()
					}
					if cerr := f.Close(); err == nil {
						err = cerr
					}
					if err == nil {
						err = os.Rename(tmp, final)
					}
					if err == nil && s.dirSync {
						err = dirs.sync(filepath.Dir(final))
					}
					if err == nil && s.fsSync {
						err = fs.sync()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// fsSyncer shares syncfs calls the way dirSyncer shares directory fsyncs: a caller waits for
// one that began after its call.
type fsSyncer struct {
	dir            string
	mu             sync.Mutex
	cond           *sync.Cond
	running        bool
	started, ended uint64
}

func (s *fsSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cond == nil {
		s.cond = sync.NewCond(&s.mu)
	}
	need := s.started + 1
	for s.ended < need {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := syncfs(s.dir)
		s.mu.Lock()
		s.running, s.ended = false, n
		s.cond.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}
