// Package durable makes directory entries survive a power cut. A file's fsync makes its bytes
// durable but not its name: the entry is in the directory, which needs an fsync of its own
// after a create, a rename or a mkdir. Every store that creates its files calls this package,
// so that the rule lives in one place. A Reserve holds back room on the disk for the writes a
// store must still make when the disk is full.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, making the entries created, renamed or removed in it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("durable: sync %s: %w", dir, err)
	}
	return nil
}

// SyncParent fsyncs the directory that holds path, making path's own entry durable. Stores
// call it after opening a file they may have just created (bbolt and SQLite create their file
// but do not sync its directory).
func SyncParent(path string) error {
	return SyncDir(filepath.Dir(path))
}

// MkdirAll is os.MkdirAll whose new directories survive a power cut: the parent of each
// directory it creates is fsynced after the creation.
func MkdirAll(path string, perm fs.FileMode) error {
	path = filepath.Clean(path)
	var missing []string
	for p := path; ; p = filepath.Dir(p) {
		_, err := os.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("durable: %w", err)
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(path, perm); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	// Deepest first: when an entry is made durable, its directory's own entry follows.
	for _, p := range missing {
		if err := SyncParent(p); err != nil {
			return err
		}
	}
	return nil
}
