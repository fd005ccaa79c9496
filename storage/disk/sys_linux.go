package disk

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's bytes durable, and its length, without the metadata that reading them
// back does not need (times).
func fdatasync(f *os.File) error {
	return onFD(f, func(fd int) error { return unix.Fdatasync(fd) })
}

// onFD runs call with f's descriptor, again while it is interrupted (EINTR).
func onFD(f *os.File, call func(fd int) error) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		for {
			if serr = call(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// copyRange copies n bytes at srcOff of src to dstOff of dst inside the kernel
// (copy_file_range), or through buf where the filesystem cannot.
func copyRange(dst *os.File, dstOff int64, src *os.File, srcOff, n int64, buf []byte) error {
	for n > 0 {
		var m int
		var err error
		if cerr := withFDs(dst, src, func(dfd, sfd int) {
			for {
				m, err = unix.CopyFileRange(sfd, &srcOff, dfd, &dstOff, int(min(n, 1<<30)), 0)
				if err != unix.EINTR {
					return
				}
			}
		}); cerr != nil {
			return cerr
		}
		switch {
		case errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP):
			return copyThrough(dst, dstOff, src, srcOff, n, buf)
		case err != nil:
			return err
		case m == 0:
			return io.ErrUnexpectedEOF
		}
		n -= int64(m)
	}
	return nil
}

// withFDs runs f with the descriptors of a and b.
func withFDs(a, b *os.File, f func(afd, bfd int)) error {
	ac, err := a.SyscallConn()
	if err != nil {
		return err
	}
	bc, err := b.SyscallConn()
	if err != nil {
		return err
	}
	var inner error
	if err := ac.Control(func(afd uintptr) {
		inner = bc.Control(func(bfd uintptr) { f(int(afd), int(bfd)) })
	}); err != nil {
		return err
	}
	return inner
}

// startWriteback asks the kernel to start writing n bytes of f at off to the disk, without
// waiting for them.
func startWriteback(f *os.File, off, n int64) error {
	return onFD(f, func(fd int) error { return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE) })
}
