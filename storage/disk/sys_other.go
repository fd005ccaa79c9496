//go:build !linux

package disk

import "os"

// fdatasync makes f's bytes durable; without fdatasync, with a full fsync.
func fdatasync(f *os.File) error { return f.Sync() }

// copyRange copies n bytes at srcOff of src to dstOff of dst through buf.
func copyRange(dst *os.File, dstOff int64, src *os.File, srcOff, n int64, buf []byte) error {
	return copyThrough(dst, dstOff, src, srcOff, n, buf)
}

// startWriteback does nothing where sync_file_range does not exist: the final fsync writes
// everything.
func startWriteback(*os.File, int64, int64) error { return nil }
