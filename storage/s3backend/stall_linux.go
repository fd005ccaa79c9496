package s3backend

import (
	"net"

	"golang.org/x/sys/unix"
)

// socketProgress is what the kernel knows of a connection's receiving side: the bytes received
// on it so far, and those waiting to be read.
func socketProgress(c *net.TCPConn) (received uint64, queued int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	cerr := rc.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		if info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err != nil {
			return
		}
		received = info.Bytes_received
		queued, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	if cerr != nil {
		return 0, 0, cerr
	}
	return received, queued, err
}
