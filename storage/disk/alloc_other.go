//go:build !linux

package disk

import "os"

// preallocate does nothing where fallocate is not available.
func preallocate(*os.File, int64) error { return nil }
