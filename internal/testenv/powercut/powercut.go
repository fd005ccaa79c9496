//go:build linux

// Package powercut is a FUSE file system for power-loss tests. It passes every operation
// through to a backing directory, and remembers what a machine's power cut would undo: file
// bytes written since that file's last fsync or fdatasync, and directory entries created,
// removed or renamed since their directory's last fsync (as LazyFS does for Jepsen). Cut
// unmounts it, puts the backing directory back in its durable state and mounts it again.
//
// The model is stricter than ext4's ordered journal, which makes many unsynced changes durable
// as a side effect of an unrelated fsync: whatever a program has not made durable itself is
// lost, so a program that passes its tests on this file system relies only on what POSIX
// promises.
//
//   - File bytes: after a cut a file holds exactly what it held at its last fsync or
//     fdatasync (both count; the size is taken as part of the data). A file created since
//     holds nothing, a file never written since the mount keeps what it had.
//   - Directory entries: a create, mkdir, link, symlink, unlink or rmdir is undone unless the
//     directory was fsynced after it. A rename is two changes: the new name stays only if the
//     destination directory was fsynced after it, the old name is gone only if the source
//     directory was; so a half-durable rename may leave the file under both names, or under
//     neither.
//
// Cut must be called while no process uses the mount (kill the program first): it stands for
// the reboot that follows a power cut.
package powercut

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted power-cut file system.
type FS struct {
	// Dir is where it is mounted: the directory the program under test uses.
	Dir string

	backing string // where the bytes are
	trash   string // removed entries that a cut may bring back; same file system as backing

	server *fuse.Server

	mu      sync.Mutex
	files   map[uint64]*dirtyFile // backing inode → what its last fsync made durable
	journal []*change             // directory changes not yet durable, oldest first
	nextID  uint64                // names in trash
	cuts    int
}

// Mount mounts a power-cut file system at dir, backed by backing; trash must be an empty
// directory on the same file system as backing (removed files are moved there until their
// removal is durable). dir, backing and trash must exist.
func Mount(dir, backing, trash string) (*FS, error) {
	f := &FS{Dir: dir, backing: backing, trash: trash, files: map[uint64]*dirtyFile{}}
	if err := f.mount(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FS) mount() error {
	lb, err := fs.NewLoopbackRoot(f.backing)
	if err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	rootNode := &node{LoopbackNode: lb.(*fs.LoopbackNode), pc: f}
	rootNode.RootData.RootNode = rootNode
	// Timeouts of zero: the kernel asks for every lookup and attribute, so that nothing it
	// cached can outlive a cut (the remount drops its caches anyway).
	zero := time.Duration(0)
	srv, err := fs.Mount(f.Dir, rootNode, &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			FsName:      "powercut",
			Name:        "powercut",
			DirectMount: true,
			MaxWrite:    1 << 20,
		},
	})
	if err != nil {
		return fmt.Errorf("powercut: mounting %s: %w", f.Dir, err)
	}
	f.server = srv
	return nil
}

// Unmount unmounts the file system and leaves the backing directory as the program left it,
// synced or not. It retries for a while if the mount is busy (a killed process's files are
// closed asynchronously).
func (f *FS) Unmount() error {
	if f.server == nil {
		return nil
	}
	var err error
	for range 200 {
		if err = f.server.Unmount(); err == nil {
			f.server.Wait()
			f.server = nil
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("powercut: unmounting %s: %w", f.Dir, err)
}

// Cut simulates a power cut and the reboot after it: it unmounts the file system, undoes every
// change that was not durable, and mounts it again at the same place. No process may be using
// the mount.
func (f *FS) Cut() error {
	if err := f.Unmount(); err != nil {
		return err
	}
	if err := f.revert(); err != nil {
		return err
	}
	f.cuts++
	return f.mount()
}

// revert puts the backing directory in the state that the fsyncs made durable.
func (f *FS) revert() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i := len(f.journal) - 1; i >= 0; i-- {
		if err := f.undo(f.journal[i]); err != nil {
			errs = append(errs, err)
		}
	}
	f.journal = nil
	for ino, d := range f.files {
		if err := d.revert(); err != nil {
			errs = append(errs, fmt.Errorf("powercut: reverting inode %d: %w", ino, err))
		}
		delete(f.files, ino)
	}
	entries, err := os.ReadDir(f.trash)
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(f.trash, e.Name())))
	}
	return errors.Join(errs...)
}

// trashPath returns a new name in the trash directory.
func (f *FS) trashPath() string {
	f.nextID++
	return filepath.Join(f.trash, fmt.Sprintf("%d.%d", f.cuts, f.nextID))
}

// Pending reports how many directory changes and how many files' bytes a cut would undo now.
func (f *FS) Pending() (changes, files int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.journal), len(f.files)
}

// inodeOf returns the backing inode number at path, without following a symlink.
func inodeOf(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
