//go:build linux

package powercut

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node that journals its directory changes and hands out file handles
// that track unsynced bytes.
type node struct {
	*fs.LoopbackNode
	pc *FS
}

var _ fs.NodeWrapChilder = (*node)(nil)

// WrapChild makes every node of the tree a node of this file system.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), pc: n.pc}
}

// backingPath is the node's path in the backing directory.
func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(nil))
}

// added journals a new entry name in n, once it exists.
func (n *node) added(name string) {
	dir := n.backingPath()
	dirIno, err1 := inodeOf(dir)
	ino, err2 := inodeOf(filepath.Join(dir, name))
	if err1 != nil || err2 != nil {
		return
	}
	n.pc.record(&change{kind: added, ino: ino, newDir: dirIno, newDirPath: dir, newName: name})
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p := filepath.Join(n.backingPath(), name)
	existed := exists(p)
	if existed && flags&syscall.O_TRUNC != 0 {
		if e := n.pc.truncating(p, 0); e != 0 {
			return nil, nil, 0, e
		}
	}
	in, fh, fl, e := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if e != 0 {
		return in, fh, fl, e
	}
	if !existed {
		n.added(name)
		n.pc.created(p)
	}
	return in, n.pc.wrap(fh), fl, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		if e := n.pc.truncating(n.backingPath(), 0); e != 0 {
			return nil, 0, e
		}
	}
	fh, fl, e := n.LoopbackNode.Open(ctx, flags)
	if e != 0 {
		return fh, fl, e
	}
	return n.pc.wrap(fh), fl, 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if e := n.pc.truncating(n.backingPath(), int64(size)); e != 0 {
			return e
		}
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, e := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if e == 0 {
		n.added(name)
	}
	return in, e
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, e := n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	if e == 0 {
		n.added(name)
		n.pc.created(filepath.Join(n.backingPath(), name))
	}
	return in, e
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, e := n.LoopbackNode.Symlink(ctx, target, name, out)
	if e == 0 {
		n.added(name)
	}
	return in, e
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, e := n.LoopbackNode.Link(ctx, target, name, out)
	if e == 0 {
		n.added(name)
	}
	return in, e
}

// Unlink moves the entry to trash rather than removing it, so that a cut can bring it back.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, false)
}

// Rmdir moves the empty directory to trash, like Unlink.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, true)
}

func (n *node) remove(name string, dir bool) syscall.Errno {
	dirPath := n.backingPath()
	p := filepath.Join(dirPath, name)
	st, err := os.Lstat(p)
	if err != nil {
		return errno(err)
	}
	if st.IsDir() != dir {
		if dir {
			return syscall.ENOTDIR
		}
		return syscall.EISDIR
	}
	if dir {
		entries, err := os.ReadDir(p)
		if err != nil {
			return errno(err)
		}
		if len(entries) > 0 {
			return syscall.ENOTEMPTY
		}
	}
	dirIno, err := dirInode(dirPath)
	if err != nil {
		return errno(err)
	}
	n.pc.mu.Lock()
	saved := n.pc.trashPath()
	n.pc.mu.Unlock()
	if err := os.Rename(p, saved); err != nil {
		return errno(err)
	}
	n.pc.record(&change{kind: removed, ino: st.Sys().(*syscall.Stat_t).Ino, dir: dirIno, dirPath: dirPath, name: name, saved: saved})
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	const renameNoreplace = 1
	if flags&^renameNoreplace != 0 {
		return syscall.ENOTSUP // RENAME_EXCHANGE and RENAME_WHITEOUT are not modelled
	}
	dirPath, newDirPath := n.backingPath(), np.backingPath()
	from, to := filepath.Join(dirPath, name), filepath.Join(newDirPath, newName)
	ino, err := inodeOf(from)
	if err != nil {
		return errno(err)
	}
	dirIno, err := dirInode(dirPath)
	if err != nil {
		return errno(err)
	}
	newDirIno, err := dirInode(newDirPath)
	if err != nil {
		return errno(err)
	}
	c := &change{kind: renamed, ino: ino, dir: dirIno, dirPath: dirPath, name: name,
		newDir: newDirIno, newDirPath: newDirPath, newName: newName}
	if flags&renameNoreplace == 0 {
		if e := n.pc.saveReplaced(to, c); e != 0 {
			return e
		}
	}
	if e := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); e != 0 {
		if c.saved != "" {
			os.Remove(c.saved)
		}
		return e
	}
	n.pc.record(c)
	return 0
}

// CopyFileRange is refused, so that the kernel copies through Read and Write, which track
// the bytes.
func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// OpendirHandle returns a directory handle whose fsync makes the directory's changes durable.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	p := n.backingPath()
	ds, e := fs.NewLoopbackDirStream(p)
	if e != 0 {
		return nil, 0, e
	}
	return &dirHandle{ds: ds, pc: n.pc, path: p}, 0, 0
}

// dirHandle is an open directory.
type dirHandle struct {
	ds   fs.DirStream
	pc   *FS
	path string
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.ds.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.ds.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.ds.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

// Fsyncdir makes the directory's changes durable. The backing directory is not fsynced: only
// the model's durability matters, and the test runs faster without.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	ino, err := inodeOf(d.path)
	if err != nil {
		return errno(err)
	}
	d.pc.dirSynced(ino)
	return 0
}
