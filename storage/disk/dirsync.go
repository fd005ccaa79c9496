package disk

import "sync"

// dirSyncer shares directory fsyncs between concurrent writes. A write that renamed a file into
// a directory needs an fsync of that directory that began after its rename. If one is running
// it began too early, so the write waits for the next one, which it starts itself or finds
// started by another write that arrived meanwhile: all writes waiting while an fsync runs are
// covered by the single fsync that follows it.
type dirSyncer struct {
	mu   sync.Mutex
	dirs map[string]*dirSync
}

type dirSync struct {
	cond    *sync.Cond
	running bool
	started uint64 // fsyncs begun
	ended   uint64 // fsyncs finished; the one numbered ended is the latest
	failed  uint64 // number of the latest failed fsync, 0 if none
	err     error  // of fsync number failed
	waiting int    // callers holding this entry
}

func newDirSyncer() *dirSyncer {
	return &dirSyncer{dirs: make(map[string]*dirSync)}
}

// sync returns once an fsync of dir that began after the call has succeeded, or with the error
// of one that failed.
func (s *dirSyncer) sync(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirs[dir]
	if d == nil {
		d = &dirSync{cond: sync.NewCond(&s.mu)}
		s.dirs[dir] = d
	}
	d.waiting++
	defer func() {
		if d.waiting--; d.waiting == 0 && !d.running {
			delete(s.dirs, dir)
		}
	}()
	need := d.started + 1 // the first fsync to begin after now
	for d.ended < need {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		s.mu.Unlock()
		err := syncDir(dir)
		s.mu.Lock()
		d.running = false
		d.ended = n
		if err != nil {
			d.failed, d.err = n, err
		}
		d.cond.Broadcast()
	}
	if d.failed >= need {
		return d.err
	}
	return nil
}
