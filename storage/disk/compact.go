package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Compaction. Overwritten and deleted small objects leave dead entries in their segments. A
// sealed segment (not active, no write to it awaiting its commit) whose dead bytes are at least
// half of it is compacted (and the active segment is sealed for that when it is large enough,
// or empty): its entries are read in order, those that a record still points at
// are appended to the active segment, and each record is moved to its new copy by a
// compare-and-set in an index change (only if it still points at the old copy; an object
// overwritten or deleted meanwhile is left alone, its new copy being dead space). The change
// names the active segment, so the committer syncs the copies before the records point at
// them. Once the segment's live bytes are 0, its index entry is deleted, and after that commit
// the file is removed (retire); readers holding it keep their descriptor.
//
// A crash at any instant leaves every record pointing at a durable copy, old or new; what it
// can leave behind (copies never committed, a segment emptied but not removed) is garbage that
// recoverSegments removes at the next start.

const (
	// compactInterval is how often the compactor looks for segments to reclaim, besides
	// when a segment is sealed.
	compactInterval = 10 * time.Second
	// compactGroupBytes bounds the entries one compaction step copies and commits at once.
	compactGroupBytes = 4 << 20
)

// compactable reports whether a sealed segment is worth compacting: nothing in it is live, or
// at least half of it is dead.
func compactable(info segInfo) bool {
	return info.live == 0 || info.live*2 <= info.end
}

// sealable reports whether the active segment should be sealed to be compacted, so that the
// space of objects deleted from it comes back without waiting for it to fill (as on a full
// disk): it is empty, or compactable and at least an eighth full.
func (b *Backend) sealable(info segInfo) bool {
	return info.live == 0 || compactable(info) && info.end >= b.segs.size/8
}

// nudgeCompactor wakes the compactor without waiting.
func (b *Backend) nudgeCompactor() {
	select {
	case b.compactNudge <- struct{}{}:
	default:
	}
}

// compactLoop runs compaction passes when nudged and every compactInterval, until ctx ends.
func (b *Backend) compactLoop(ctx context.Context) {
	t := time.NewTicker(compactInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.compactNudge:
		}
		st, err := b.compact(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			b.log.Error("disk: compact segments", "err", err)
		}
		if st.retired > 0 {
			b.log.Info("disk: compacted segments", "removed", st.retired, "moved", st.moved, "moved_bytes", st.movedBytes)
		}
	}
}

// compactStats counts what a compaction pass did.
type compactStats struct {
	moved      int   // entries moved
	movedBytes int64 // their length
	retired    int   // segments removed
}

// compact runs one compaction pass over every sealed segment that is compactable.
func (b *Backend) compact(ctx context.Context) (compactStats, error) {
	var st compactStats
	if err := b.begin(); err != nil {
		return st, err
	}
	defer b.ops.Done()
	b.compactMu.Lock()
	defer b.compactMu.Unlock()
	// Which segments are quiet is asked before the index is read: a commit pointing into a
	// segment ends before the segment can be quiet, so the read sees all of them.
	infos, err := b.segmentInfos()
	if err != nil {
		return st, err
	}
	var cands []uint64
	for id, info := range infos {
		if id == b.segs.activeID() && b.sealable(info) {
			b.segs.seal(id)
		}
		if stuck, ok := b.compactStuck[id]; (!ok || stuck != info.live) && compactable(info) && b.segs.quiet(id) {
			cands = append(cands, id)
		}
	}
	if infos, err = b.segmentInfos(); err != nil {
		return st, err
	}
	slices.Sort(cands)
	for _, id := range cands {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if info := infos[id]; info.live > 0 {
			if err := b.evacuate(ctx, id, info.end, &st); err != nil {
				return st, err
			}
		}
		gone, live, err := b.forgetSegment(id)
		if err != nil {
			return st, err
		}
		if !gone {
			// Entries the scan could not read (a damaged segment) still hold records.
			b.compactStuck[id] = live
			b.log.Warn("disk: segment keeps live bytes after compaction", "segment", segmentName(id), "live_bytes", live)
			continue
		}
		delete(b.compactStuck, id)
		if err := b.segs.retire(id); err != nil {
			return st, err
		}
		st.retired++
	}
	return st, nil
}

// segmentInfos reads the index entries of all segments.
func (b *Backend) segmentInfos() (map[uint64]segInfo, error) {
	infos := make(map[uint64]segInfo)
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(segmentsRoot).ForEach(func(k, v []byte) error {
			info, err := decodeSegInfo(v)
			if err != nil || len(k) != 8 {
				return fmt.Errorf("disk: segment entry %x: %w", k, errCorrupt)
			}
			infos[binary.BigEndian.Uint64(k)] = info
			return nil
		})
	})
	return infos, err
}

// move is a live entry found in a segment being compacted.
type move struct {
	entry
	to segWrite
}

// evacuate moves every live entry of segment id, up to end, to the active segment.
func (b *Backend) evacuate(ctx context.Context, id uint64, end int64, st *compactStats) error {
	f, err := os.Open(b.segs.path(id))
	if err != nil {
		return fmt.Errorf("disk: open segment to compact: %w", err)
	}
	defer f.Close() // read-only
	sc := newEntryScanner(f, end)
	var (
		group []move
		held  int64
	)
	for {
		e, err := sc.next()
		if err != nil && !errors.Is(err, errScanEnd) {
			return err
		}
		if err == nil {
			group = append(group, move{entry: e})
			held += e.length()
		}
		if len(group) > 0 && (err != nil || held >= compactGroupBytes) {
			if err := b.moveGroup(f, id, group, st); err != nil {
				return err
			}
			group, held = group[:0], 0
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err != nil {
			return nil
		}
	}
}

// pointsAt reports whether v, the record of the entry's bucket/key, points at its data in
// segment id.
func (m *move) pointsAt(v []byte, id uint64) (record, bool, error) {
	if v == nil {
		return record{}, false, nil
	}
	rec, _, err := decodeRecord(v)
	if err != nil {
		return record{}, false, fmt.Errorf("%s/%s: %w", m.bucket, m.key, err)
	}
	return rec, rec.seg == id && rec.off == m.dataOff() && rec.size == m.size, nil
}

// moveGroup copies the entries of group that are live from src, segment id, to the active
// segment and moves their records there, each only if it still points at the old copy.
func (b *Backend) moveGroup(src *os.File, id uint64, group []move, st *compactStats) error {
	var live []move
	if err := b.db.View(func(tx *bolt.Tx) error {
		objs := tx.Bucket(objectsRoot)
		for _, m := range group {
			bk := objs.Bucket([]byte(m.bucket))
			if bk == nil {
				continue
			}
			_, ok, err := m.pointsAt(bk.Get([]byte(m.key)), id)
			if err != nil {
				return err
			}
			if ok {
				live = append(live, m)
			}
		}
		return nil
	}); err != nil || len(live) == 0 {
		return err
	}
	var syncs []*segFile
	defer func() {
		for _, m := range live {
			if m.to.f != nil {
				m.to.done()
			}
		}
	}()
	bufp := b.copyBufs.Get().(*[]byte)
	defer b.copyBufs.Put(bufp)
	for i := range live {
		m := &live[i]
		w, err := b.segs.reserve(m.length())
		if err != nil {
			return err
		}
		m.to = w
		if err := copyRange(w.f.f, w.off, src, m.pos, m.length(), *bufp); err != nil {
			return w.failed(err)
		}
		if !slices.Contains(syncs, w.f) {
			syncs = append(syncs, w.f)
		}
	}
	moved, bytesMoved := 0, int64(0)
	err := b.commit.do(func(tx *bolt.Tx) error {
		moved, bytesMoved = 0, 0
		objs := tx.Bucket(objectsRoot)
		for _, m := range live {
			bk := objs.Bucket([]byte(m.bucket))
			if bk == nil {
				continue
			}
			kb := []byte(m.key)
			rec, ok, err := m.pointsAt(bk.Get(kb), id)
			if err != nil {
				return err
			}
			if !ok {
				continue // overwritten or deleted since the scan: its new copy is dead
			}
			n := m.length()
			rec.seg, rec.off = m.to.f.id, m.to.off+n-m.size
			if err := bk.Put(kb, rec.encode(nil, nil)); err != nil {
				return err
			}
			if err := dropSegRef(tx, id, n); err != nil {
				return err
			}
			if err := addSegRef(tx, rec.seg, rec.off+rec.size, n); err != nil {
				return err
			}
			moved++
			bytesMoved += n
		}
		return nil
	}, len(live)*64, syncs...)
	if err != nil {
		return err
	}
	st.moved += moved
	st.movedBytes += bytesMoved
	return nil
}

// copyThrough copies n bytes at srcOff of src to dstOff of dst with pread and pwrite through
// buf.
func copyThrough(dst *os.File, dstOff int64, src *os.File, srcOff, n int64, buf []byte) error {
	for n > 0 {
		m, err := src.ReadAt(buf[:min(n, int64(len(buf)))], srcOff)
		if m > 0 {
			if _, werr := dst.WriteAt(buf[:m], dstOff); werr != nil {
				return werr
			}
		}
		if err != nil && (m == 0 || !errors.Is(err, io.EOF)) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		srcOff, dstOff, n = srcOff+int64(m), dstOff+int64(m), n-int64(m)
	}
	return nil
}

// forgetSegment deletes the index entry of segment id if no record points into it; gone
// reports whether the entry is no more, live the bytes still referenced otherwise.
func (b *Backend) forgetSegment(id uint64) (gone bool, live int64, err error) {
	err = b.commit.do(func(tx *bolt.Tx) error {
		segs := tx.Bucket(segmentsRoot)
		k := segKey(id)
		v := segs.Get(k)
		if v == nil {
			gone = true
			return nil
		}
		info, err := decodeSegInfo(v)
		if err != nil {
			return fmt.Errorf("segment %x: %w", id, err)
		}
		if gone, live = info.live == 0, info.live; !gone {
			return nil
		}
		return segs.Delete(k)
	}, 16)
	return gone, live, err
}
