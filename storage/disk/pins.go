package disk

import "sync"

// filePins keeps the files of open multipart objects from being removed under their readers.
//
// An Object of a single file holds that file open, so the file's removal cannot hurt it. An
// Object of a multipart record may span 10,000 files and cannot hold them all open, so it
// opens each while reading it and pins them all instead: while a file is pinned, removing it
// is deferred until its last pin is released. GetObject pins a record's files and then checks
// that the record is still current; a file the index still pointed to then had not been
// removed, and from then on its removal waits for the pin.
type filePins struct {
	mu     sync.Mutex
	count  map[string]int      // file id → pins
	doomed map[string]struct{} // pinned files no record points to any more
}

// pin pins every file of ids.
func (p *filePins) pin(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count == nil {
		p.count = make(map[string]int)
		p.doomed = make(map[string]struct{})
	}
	for _, id := range ids {
		p.count[id]++
	}
}

// unpin releases the pins of ids and returns the files whose removal was deferred to now.
func (p *filePins) unpin(ids []string) (remove []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if p.count[id]--; p.count[id] > 0 {
			continue
		}
		delete(p.count, id)
		if _, ok := p.doomed[id]; ok {
			delete(p.doomed, id)
			remove = append(remove, id)
		}
	}
	return remove
}

// deferRemoval reports whether id is pinned; if so, its removal happens at its last unpin.
func (p *filePins) deferRemoval(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count[id] == 0 {
		return false
	}
	p.doomed[id] = struct{}{}
	return true
}
