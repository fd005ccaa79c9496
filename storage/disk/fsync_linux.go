package disk

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's bytes durable, and its length, without the metadata that reading them
// back does not need (times).
func fdatasync(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
