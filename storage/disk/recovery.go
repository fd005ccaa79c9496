package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Crash safety. An object becomes visible only through its index commit, which happens after
// its bytes (and their directory entry, for a file) are synced; so after a crash at any instant
// the index names a complete old or a complete new version. What a crash can leave behind is
// garbage no record names: files in tmp/ (a write in progress), files in objects/ renamed but
// never committed, or replaced or deleted but not yet removed, and in segments/ bytes past the
// last committed entry and segments nothing points into. Open empties tmp/ and tidies
// segments/ before any write can start, and removeOrphans removes such object files in the
// background.

// clearTmp removes everything in tmp/. It runs in Open, before any write of this process.
func (b *Backend) clearTmp() error {
	dir := filepath.Join(b.dir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("disk: clear tmp: %w", err)
		}
	}
	if len(entries) > 0 {
		b.log.Info("disk: removed leftovers of unfinished writes", "files", len(entries))
	}
	return nil
}

// orphanChunk is how many directory entries removeOrphans reads and checks at a time.
const orphanChunk = 1024

// removeOrphans removes the object files of earlier epochs that no record points to. Files of
// this epoch are never touched: they may be written right now. A file of an earlier epoch that
// no record names can never gain one, so removing it cannot race a write.
func (b *Backend) removeOrphans(ctx context.Context) {
	objects := filepath.Join(b.dir, "objects")
	fanouts, err := os.ReadDir(objects)
	if err != nil {
		b.log.Error("disk: remove orphan object files", "err", err)
		return
	}
	removed := 0
	for _, e := range fanouts {
		if !e.IsDir() {
			continue
		}
		n, err := b.removeOrphansIn(ctx, filepath.Join(objects, e.Name()))
		removed += n
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Error("disk: remove orphan object files", "err", err)
		}
	}
	if removed > 0 {
		b.log.Info("disk: removed orphan object files", "files", removed)
	}
}

func (b *Backend) removeOrphansIn(ctx context.Context, dir string) (int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close() // read-only: its Close cannot lose data
	removed := 0
	for ctx.Err() == nil {
		names, rerr := d.Readdirnames(orphanChunk)
		var candidates []string
		for _, name := range names {
			if !validFileID(name) {
				b.log.Warn("disk: unexpected file in objects/", "path", filepath.Join(dir, name))
				continue
			}
			if epoch, err := strconv.ParseUint(name[:16], 16, 64); err == nil && epoch < b.epoch {
				candidates = append(candidates, name)
			}
		}
		var orphans []string
		if err := b.db.View(func(tx *bolt.Tx) error {
			files := tx.Bucket(filesRoot)
			for _, name := range candidates {
				if files.Get([]byte(name)) == nil {
					orphans = append(orphans, name)
				}
			}
			return nil
		}); err != nil {
			return removed, err
		}
		for _, name := range orphans {
			if b.pins.deferRemoval(name) {
				continue // read by an open multipart object; removed when it closes
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, err
			}
			removed++
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return removed, rerr
		}
	}
	return removed, nil
}

// recoverSegments runs in Open, before any write. The index says which segments records
// point into and how far (segInfo); anything else under segments/ is garbage of a crash:
//   - a segment file the index does not know, or knows with no live bytes: created or
//     compacted but never referenced, or emptied and not yet removed. It is removed, and so is
//     its index entry.
//   - bytes past a segment's end: entries written but never committed. They are cut off.
//
// The segment with the highest id that still has room becomes the active one again, so that
// restarts do not leave a trail of small segments.
func (b *Backend) recoverSegments() error {
	infos, err := b.segmentInfos()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(b.segs.dir)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	present := make(map[uint64]bool)
	removed, cut := 0, int64(0)
	for _, e := range entries {
		id, ok := parseSegmentName(e.Name())
		if !ok {
			b.log.Warn("disk: unexpected file in segments/", "path", filepath.Join(b.segs.dir, e.Name()))
			continue
		}
		path := b.segs.path(id)
		info, known := infos[id]
		if !known || info.live == 0 {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("disk: remove unreferenced segment: %w", err)
			}
			removed++
			continue
		}
		present[id] = true
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		if fi.Size() > info.end {
			if err := os.Truncate(path, info.end); err != nil {
				return fmt.Errorf("disk: cut segment tail: %w", mapErr(err))
			}
			cut += fi.Size() - info.end
		} else if fi.Size() < info.end {
			b.log.Error("disk: segment shorter than its index entry: objects in it are lost", "segment", segmentName(id), "size", fi.Size(), "end", info.end)
		}
	}
	var dead []uint64
	var last uint64
	for id, info := range infos {
		switch {
		case info.live == 0:
			dead = append(dead, id)
		case !present[id]:
			b.log.Error("disk: segment missing: objects in it are lost", "segment", segmentName(id), "live_bytes", info.live)
		case id > last:
			last = id
		}
	}
	if len(dead) > 0 {
		if err := b.db.Update(func(tx *bolt.Tx) error {
			for _, id := range dead {
				if err := tx.Bucket(segmentsRoot).Delete(segKey(id)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("disk: forget empty segments: %w", mapErr(err))
		}
	}
	if removed > 0 || cut > 0 {
		b.log.Info("disk: removed unreferenced segments and cut uncommitted tails", "segments", removed, "bytes", cut)
	}
	if last != 0 && infos[last].end < b.segs.size {
		fd, err := os.OpenFile(b.segs.path(last), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("disk: reopen segment: %w", err)
		}
		b.segs.activate(&segFile{id: last, f: fd}, infos[last].end)
	}
	return nil
}
