// Package sqlite is the control plane's Store in one SQLite file: the default for a single
// machine, with no server to run.
//
// The file is in WAL mode with synchronous=FULL, so a change is on stable storage when its call
// returns. All changes go through one writer connection owned by one goroutine, which commits
// the changes that queued up while it was busy as one transaction — one fsync for the whole
// batch (group commit) — with a SAVEPOINT around each, so one failing change never undoes
// another. Reads use a separate pool of read-only connections and never wait for the writer.
//
// Several Store values may open the same file (as the contract suite does to stand in for
// replicas): SQLite's file lock serialises their write transactions, so every
// check-then-change stays atomic across them.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"presign/control"
	"presign/control/internal/migration"
	"presign/internal/durable"
)

//go:embed migrations/*.sql
var migrations embed.FS

// readers is the size of the read-only connection pool. Reads are short and the machine is
// small; more connections than cores only add contention.
const readers = 4

// busyTimeout is how long a connection waits for another Store's lock on the same file.
const busyTimeout = 10 * time.Second

// Store is a control.Store in a SQLite file. It is safe for concurrent use.
type Store struct {
	w       *writer
	reserve *durable.Reserve // space held back for deletes on a full disk
	wdb     *sql.DB          // holds the writer's single connection
	rdb     *sql.DB          // read-only pool
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // prepared reads on rdb, by query text; guarded by mu

	closeOnce sync.Once
	closeErr  error
}

var _ control.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies the migrations it lacks,
// and starts the writer. The caller must Close the Store.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a plain file path", path)
	}
	if err := private(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	bt := strconv.Itoa(int(busyTimeout / time.Millisecond))
	wdb, err := sql.Open("sqlite", path+"?_pragma=busy_timeout("+bt+")&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	conn, err := wdb.Conn(ctx)
	if err == nil {
		err = walMode(ctx, conn)
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w := newWriter(conn)
	if err := w.migrate(ctx); err != nil {
		w.closeStmts()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", path+"?_pragma=busy_timeout("+bt+")&_pragma=query_only(1)")
	if err != nil {
		w.closeStmts()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	w.reserve = durable.NewReserve(path+"-reserve", durable.ReserveSize)
	go w.run()
	return &Store{w: w, reserve: w.reserve, wdb: wdb, rdb: rdb, stmts: map[string]*sql.Stmt{}}, nil
}

// private makes the database file at path readable by its owner only (0600), creating it
// empty when missing, and takes the same mode from an existing -wal and -shm. It holds the
// password hashes and token hashes; SQLite would create it 0644 less the umask, and gives
// the -wal and -shm files it creates later the mode of the database file.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close waits for queued changes to commit, stops the writer and closes the database. Later
// calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.w.close()
		s.mu.Lock()
		for _, st := range s.stmts {
			st.Close()
		}
		s.stmts = map[string]*sql.Stmt{}
		s.mu.Unlock()
		s.closeErr = errors.Join(s.w.conn.Close(), s.wdb.Close(), s.rdb.Close())
	})
	return s.closeErr
}

// walMode switches the database to WAL. SQLite answers SQLITE_BUSY at once, without calling
// the busy handler, when another connection is switching the same new file at the same moment
// (Stores opening together), so the switch is retried here for up to busyTimeout.
func walMode(ctx context.Context, conn *sql.Conn) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is %q, not wal", mode)
		case !busy(err) || time.Now().After(deadline):
			return fmt.Errorf("set WAL journal mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// migrate applies, in one write transaction, the embedded migrations newer than the recorded
// schema version, then fills the username skeletons that are missing. Two Stores opening one
// file at once serialise on BEGIN IMMEDIATE, and the second finds nothing left to do.
func (w *writer) migrate(ctx context.Context) error {
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := migration.Apply(ctx, migrationTx{w.conn}, migrations, "migrations")
	if err == nil {
		err = fillSkeletons(ctx, w.conn)
	}
	if err != nil {
		w.conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	_, err = w.conn.ExecContext(ctx, "COMMIT")
	return err
}

// migrationTx is the writer connection inside migrate's transaction.
type migrationTx struct{ conn *sql.Conn }

func (m migrationTx) Version(ctx context.Context) (int, error) {
	if _, err := m.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return 0, err
	}
	var have int
	err := m.conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have)
	return have, err
}

func (m migrationTx) Apply(ctx context.Context, version int, script string) error {
	if _, err := m.conn.ExecContext(ctx, script); err != nil {
		return err
	}
	_, err := m.conn.ExecContext(ctx, "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
		version, time.Now().UnixMicro())
	return err
}

// rstmt returns the prepared read statement for q, preparing it on first use.
func (s *Store) rstmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.rdb.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmts[q] = st
	return st, nil
}

// queryRow runs a single-row read on the read pool.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	st, err := s.rstmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read on the read pool.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.rstmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// rowScanner is a *sql.Row or *sql.Rows, or a failure to get one.
type rowScanner interface{ Scan(dest ...any) error }

// errRow is a row whose query could not run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// constraint reports whether err is the SQLite constraint violation with the extended code.
func constraint(err error, code int) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == code
}

// busy reports whether err is SQLite's "database is locked" (SQLITE_BUSY, any extended code).
func busy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// full marks SQLite's "database or disk is full" (SQLITE_FULL, any extended code) with
// control.ErrStoreFull; other errors pass unchanged.
func full(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_FULL {
		return fmt.Errorf("%w: %w", control.ErrStoreFull, err)
	}
	return err
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	return constraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) || constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// isForeignKey reports whether err is a FOREIGN KEY violation.
func isForeignKey(err error) bool { return constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) }

// notFound turns sql.ErrNoRows into control.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return control.ErrNotFound
	}
	return err
}

// micros is t as stored: microseconds since the epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is t as stored where a time may be absent: NULL for the zero time.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the stored time v.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// fromNullMicros is the stored time v; the zero time for NULL.
func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}
