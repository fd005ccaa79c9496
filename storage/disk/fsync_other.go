//go:build !linux

package disk

import "os"

// fdatasync makes f's bytes durable; without fdatasync, with a full fsync.
func fdatasync(f *os.File) error { return f.Sync() }
