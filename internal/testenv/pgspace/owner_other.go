//go:build !unix

package pgspace

import "os"

// owner reports no owner: files have none of a Unix user's here, and no tmpfs to give one.
func owner(os.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }
