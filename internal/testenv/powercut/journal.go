//go:build linux

package powercut

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// change is one directory change that a cut may undo. A change has one side per directory it
// touches (two for a rename across directories); a side is durable once its directory has
// been fsynced after the change.
type change struct {
	kind changeKind
	ino  uint64 // the inode added, removed or moved

	// The entry removed (unlink, rmdir, rename's source) or added (create, mkdir, rename's
	// destination): directory inode, its backing path at the time, name, and durability.
	dir, newDir         uint64
	dirPath, newDirPath string
	name, newName       string
	durable, newDurable bool

	saved    string // unlink, rmdir: the removed entry, in trash; rename: the replaced file's
	savedDir bool   // rename: the replaced entry was an empty directory
}

type changeKind int

const (
	added   changeKind = iota // create, mkdir, link, symlink, mknod: uses newDir, newName
	removed                   // unlink, rmdir: uses dir, name, saved
	renamed                   // uses both sides, saved or savedDir for a replaced target
)

// record appends c to the journal.
func (f *FS) record(c *change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c.kind {
	case added:
		c.durable = true
	case removed:
		c.newDurable = true
	}
	f.journal = append(f.journal, c)
}

// dirSynced makes durable every change to the directory whose inode is dir, and drops the
// changes that are durable on all sides (and what they kept in trash).
func (f *FS) dirSynced(dir uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.journal[:0]
	for _, c := range f.journal {
		if c.dir == dir {
			c.durable = true
		}
		if c.newDir == dir {
			c.newDurable = true
		}
		if c.durable && c.newDurable {
			if c.saved != "" {
				os.RemoveAll(c.saved)
			}
			continue
		}
		kept = append(kept, c)
	}
	clear(f.journal[len(kept):])
	f.journal = kept
}

// undo reverts the sides of c that are not durable, where the directory still looks as c
// left it (a later change that is durable may have moved the entry on; then it stays where
// that change put it).
func (f *FS) undo(c *change) error {
	oldPath := filepath.Join(c.dirPath, c.name)
	newPath := filepath.Join(c.newDirPath, c.newName)
	switch c.kind {
	case added:
		if !c.newDurable && is(newPath, c.ino) {
			return os.Rename(newPath, f.trashPath())
		}
	case removed:
		if !c.durable && !exists(oldPath) && exists(c.saved) {
			return os.Rename(c.saved, oldPath)
		}
	case renamed:
		var errs []error
		if !is(newPath, c.ino) {
			return nil
		}
		switch {
		case !c.newDurable && !c.durable && !exists(oldPath):
			errs = append(errs, os.Rename(newPath, oldPath))
		case !c.newDurable:
			errs = append(errs, os.Rename(newPath, f.trashPath()))
		case !c.durable && !exists(oldPath):
			// The old name comes back beside the new one; a directory cannot have two.
			if st, err := os.Lstat(newPath); err == nil && !st.IsDir() {
				errs = append(errs, os.Link(newPath, oldPath))
			}
		}
		if !c.newDurable && !exists(newPath) {
			switch {
			case c.saved != "":
				errs = append(errs, os.Rename(c.saved, newPath))
			case c.savedDir:
				errs = append(errs, os.Mkdir(newPath, 0o755))
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// is reports whether path names the inode ino.
func is(path string, ino uint64) bool {
	got, err := inodeOf(path)
	return err == nil && got == ino
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// dirInode returns the inode of the directory at path, for the journal.
func dirInode(path string) (uint64, error) {
	ino, err := inodeOf(path)
	if err != nil {
		return 0, fmt.Errorf("powercut: %w", err)
	}
	return ino, nil
}

// saveReplaced keeps the entry a rename is about to replace at path, so that a cut can bring
// it back: a file gets a second name in trash; an empty directory is only noted.
func (f *FS) saveReplaced(path string, c *change) syscall.Errno {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		return errno(err)
	}
	if st.IsDir() {
		c.savedDir = true
		return 0
	}
	f.mu.Lock()
	c.saved = f.trashPath()
	f.mu.Unlock()
	return errno(os.Link(path, c.saved))
}

// errno turns err into the errno FUSE answers with.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
