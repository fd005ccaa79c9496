package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Compaction. Overwritten and deleted small objects leave dead entries in their segments. A
// sealed segment (not active, no write to it awaiting its commit) whose dead bytes are at least
// half of it is compacted: its entries are read in order, those that a record still points at
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
		if err != nil && ctx.Err() == nil {
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
	b.compactMu.Lock()
	defer b.compactMu.Unlock()
	var st compactStats
	type candidate struct {
		id   uint64
		info segInfo
	}
	var cands []candidate
	if err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(segmentsRoot).ForEach(func(k, v []byte) error {
			info, err := decodeSegInfo(v)
			if err != nil || len(k) != 8 {
				return fmt.Errorf("disk: segment entry %x: %w", k, errCorrupt)
			}
			id := binary.BigEndian.Uint64(k)
			if stuck, ok := b.compactStuck[id]; ok && stuck == info.live {
				return nil
			}
			if compactable(info) && b.segs.quiet(id) {
				cands = append(cands, candidate{id, info})
			}
			return nil
		})
	}); err != nil {
		return st, err
	}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if c.info.live > 0 {
			if err := b.evacuate(ctx, c.id, c.info.end, &st); err != nil {
				return st, err
			}
		}
		gone, live, err := b.forgetSegment(c.id)
		if err != nil {
			return st, err
		}
		if !gone {
			// Entries the scan could not read (a damaged segment) still hold records.
			b.compactStuck[c.id] = live
			b.log.Warn("disk: segment keeps live bytes after compaction", "segment", segmentName(c.id), "live_bytes", live)
			continue
		}
		delete(b.compactStuck, c.id)
		if err := b.segs.retire(c.id); err != nil {
			return st, err
		}
		st.retired++
	}
	return st, nil
}

// move is a live entry found in a segment being compacted.
type move struct {
	bucket, key string
	size        int64
	from        int64 // offset of the data in the old segment
	raw         []byte
	to          segWrite
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
		held  int
	)
	for {
		e, err := sc.next()
		if err != nil && !errors.Is(err, errScanEnd) {
			return err
		}
		if err == nil {
			group = append(group, move{bucket: e.bucket, key: e.key, size: int64(len(e.data)), from: e.dataOff(), raw: bytes.Clone(e.raw)})
			held += len(e.raw)
		}
		if len(group) > 0 && (err != nil || held >= compactGroupBytes) {
			if err := b.moveGroup(id, group, st); err != nil {
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

// pointsAt reports whether v, the record of bucket/key, points at the data of m in segment id.
func (m *move) pointsAt(v []byte, id uint64) (record, bool, error) {
	if v == nil {
		return record{}, false, nil
	}
	rec, _, err := decodeRecord(v)
	if err != nil {
		return record{}, false, fmt.Errorf("%s/%s: %w", m.bucket, m.key, err)
	}
	return rec, rec.seg == id && rec.off == m.from && rec.size == m.size, nil
}

// moveGroup copies the entries of group that are live to the active segment and moves their
// records there, each only if it still points at the old copy.
func (b *Backend) moveGroup(id uint64, group []move, st *compactStats) error {
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
	for i := range live {
		w, err := b.segs.write(live[i].raw)
		if err != nil {
			return err
		}
		live[i].to = w
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
			n := int64(len(m.raw))
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
