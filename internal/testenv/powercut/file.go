//go:build linux

package powercut

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirtyFile is a file written since its last fsync: what that fsync made durable is its first
// size bytes, of which undo holds the ones overwritten since.
type dirtyFile struct {
	mu   sync.Mutex
	f    *os.File // the file's own descriptor, valid whatever its name becomes
	size int64
	undo []undoRecord
}

// undoRecord is durable bytes that a write or truncation replaced.
type undoRecord struct {
	off  int64
	data []byte
}

// revert puts the durable bytes back and cuts the file to its durable size.
func (d *dirtyFile) revert() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.f.Close()
	for i := len(d.undo) - 1; i >= 0; i-- {
		if _, err := d.f.WriteAt(d.undo[i].data, d.undo[i].off); err != nil {
			return err
		}
	}
	return d.f.Truncate(d.size)
}

// keep saves the durable bytes in [off, end) before they change.
func (d *dirtyFile) keep(off, end int64) error {
	end = min(end, d.size)
	if off >= end {
		return nil
	}
	buf := make([]byte, end-off)
	n, err := d.f.ReadAt(buf, off)
	if n < len(buf) {
		// The file is shorter than its durable size: it was truncated, and that is undone
		// with its own record.
		buf = buf[:n]
	}
	if n == 0 && err != nil {
		return nil
	}
	d.undo = append(d.undo, undoRecord{off, buf})
	return nil
}

// track returns the dirtyFile of the file open at fd, starting one whose durable state is
// its present state if it is not tracked yet.
func (f *FS) track(fd int) (*dirtyFile, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.files[st.Ino]; ok {
		return d, nil
	}
	own, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	d := &dirtyFile{f: own, size: st.Size}
	f.files[st.Ino] = d
	return d, nil
}

// created notes that the file at path is new: nothing of it is durable.
func (f *FS) created(path string) {
	own, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	var st syscall.Stat_t
	if syscall.Fstat(int(own.Fd()), &st) != nil {
		own.Close()
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.files[st.Ino]; ok {
		old.f.Close()
	}
	f.files[st.Ino] = &dirtyFile{f: own}
}

// truncating saves what truncating the file at path to size is about to discard.
func (f *FS) truncating(path string, size int64) syscall.Errno {
	file, err := os.Open(path)
	if err != nil {
		return errno(err)
	}
	defer file.Close()
	d, err := f.track(int(file.Fd()))
	if err != nil {
		return errno(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return errno(d.keep(size, d.size))
}

// synced makes the file open at fd durable as it is.
func (f *FS) synced(fd int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	f.mu.Lock()
	d, ok := f.files[st.Ino]
	delete(f.files, st.Ino)
	f.mu.Unlock()
	if ok {
		d.mu.Lock()
		d.f.Close()
		d.mu.Unlock()
	}
	return nil
}

// wrap turns a loopback file handle into one that tracks writes and fsyncs.
func (f *FS) wrap(fh fs.FileHandle) fs.FileHandle {
	lf := fh.(*fs.LoopbackFile)
	fd, _ := lf.PassthroughFd()
	return &file{lf: lf, fd: fd, pc: f}
}

// file is an open file. It implements only the operations it tracks or that cannot change
// bytes; in particular not PassthroughFd, through which the kernel would write past it.
type file struct {
	lf *fs.LoopbackFile
	fd int
	pc *FS
}

func (h *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.lf.Read(ctx, buf, off)
}

func (h *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	d, err := h.pc.track(h.fd)
	if err != nil {
		return 0, errno(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.keep(off, off+int64(len(data))); err != nil {
		return 0, errno(err)
	}
	return h.lf.Write(ctx, data, off)
}

func (h *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	d, err := h.pc.track(h.fd)
	if err != nil {
		return 0, errno(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, b := range data {
		n += len(b)
	}
	if err := d.keep(off, off+int64(n)); err != nil {
		return 0, errno(err)
	}
	return h.lf.Writev(ctx, data, off)
}

// Fsync makes the file's bytes durable in the model; fdatasync (flags&1) counts the same. The
// backing file is not fsynced: only the model matters here.
func (h *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return errno(h.pc.synced(h.fd))
}

func (h *file) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	d, err := h.pc.track(h.fd)
	if err != nil {
		return errno(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.keep(int64(off), int64(off+size)); err != nil {
		return errno(err)
	}
	return h.lf.Allocate(ctx, off, size, mode)
}

func (h *file) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }
func (h *file) Flush(ctx context.Context) syscall.Errno   { return h.lf.Flush(ctx) }

func (h *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

// Setattr is reached through the node's Setattr, which has saved what a truncation discards.
func (h *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Setattr(ctx, in, out)
}

func (h *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

func (h *file) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	return h.lf.Getlk(ctx, owner, lk, flags, out)
}

func (h *file) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return h.lf.Setlk(ctx, owner, lk, flags)
}

func (h *file) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return h.lf.Setlkw(ctx, owner, lk, flags)
}
