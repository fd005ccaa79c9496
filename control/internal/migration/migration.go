// Package migration applies the schema migrations of the control plane's stores: numbered SQL
// files embedded in the binary, applied in order, each once.
//
// The stores differ in how they lock the database, run SQL and record a version, and each
// supplies that as a Tx; which files exist, their order, the numbering rule and which of them
// are still to run are decided here, once, so that SQLite and PostgreSQL agree.
package migration

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Tx is one store's migration transaction. The store holds it, and the lock that keeps two
// processes from migrating one database at once, for the whole of Apply: if Apply fails, the
// store rolls everything back.
type Tx interface {
	// Version returns the newest version applied, 0 before the first, creating the record of
	// applied versions where it does not exist yet.
	Version(ctx context.Context) (int, error)
	// Apply runs the SQL of the migration with the version and records the version as applied.
	Apply(ctx context.Context, version int, sql string) error
}

// Apply runs, in version order, the migrations in dir of fsys newer than tx's version. A
// migration is a file named <version>_<what>.sql, the version a positive number (e.g.
// 0001_init.sql); every .sql file in dir must be named so, and no two may share a version.
func Apply(ctx context.Context, tx Tx, fsys fs.FS, dir string) error {
	files, err := list(fsys, dir)
	if err != nil {
		return err
	}
	have, err := tx.Version(ctx)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	for _, f := range files {
		if f.version <= have {
			continue
		}
		body, err := fs.ReadFile(fsys, f.name)
		if err != nil {
			return err
		}
		if err := tx.Apply(ctx, f.version, string(body)); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// file is one migration file.
type file struct {
	name    string // path in the file system
	version int
}

// list returns the migrations in dir, by version.
func list(fsys fs.FS, dir string) ([]file, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	files := make([]file, 0, len(names))
	for _, name := range names {
		v, err := version(name)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name, v})
	}
	slices.SortFunc(files, func(a, b file) int { return a.version - b.version })
	for i := 1; i < len(files); i++ {
		if files[i].version == files[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", files[i-1].name, files[i].name, files[i].version)
		}
	}
	return files, nil
}

// version reads the version from a migration's name: "migrations/0001_init.sql" is 1.
func version(name string) (int, error) {
	num, _, ok := strings.Cut(path.Base(name), "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("migration %s: name must start with a positive version and _", name)
	}
	return v, nil
}
