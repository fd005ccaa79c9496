// Package postgres is the control plane's Store in PostgreSQL, for several control-plane
// replicas sharing one database.
//
// Atomicity across replicas comes from PostgreSQL itself: a conditional UPDATE of the owner's
// usage row (re-checked against the newest row version under READ COMMITTED) admits a new
// upload; SELECT ... FOR UPDATE makes a transition a compare-and-set; FOR UPDATE SKIP LOCKED
// and a lease column let replicas claim overdue uploads without sharing one; unique
// constraints and INSERT ... ON CONFLICT make files and seen events exactly-once. Commits are
// durable as the server is configured (synchronous_commit); concurrent commits share WAL
// flushes, so no batching is needed here.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"presign/control"
	"presign/control/internal/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// defaultMaxConns is the pool size when the DSN sets no pool_max_conns. PostgreSQL's group
// commit needs concurrent committers; more connections than this mostly queue in the server.
const defaultMaxConns = 16

// defaultConnectTimeout bounds a new connection when the DSN sets no connect_timeout: without
// it, a database host that accepts TCP but never answers holds every request waiting for a
// connection, where it should be answered as unavailable.
const defaultConnectTimeout = 10 * time.Second

// migrationLock is the first key of the advisory lock taken while migrating; the second is the
// schema's name hash, so that different schemas of one database migrate independently.
const migrationLock = 0x70726573 // "pres"

// Store is a control.Store in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	db   db
}

var _ control.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value string; pgxpool
// parameters such as pool_max_conns and run-time parameters such as search_path are honoured),
// and applies the migrations it lacks, under an advisory lock so replicas starting together do
// not race. The caller must Close the Store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return &Store{pool: pool, db: db{pool}}, nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies, in one transaction holding a transaction-scoped advisory lock, the embedded
// migrations newer than the recorded schema version, then fills the username skeletons that
// are missing.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", migrationLock); err != nil {
			return err
		}
		if err := migration.Apply(ctx, migrationTx{tx}, migrations, "migrations"); err != nil {
			return err
		}
		return fillSkeletons(ctx, tx)
	})
}

// migrationTx is migrate's transaction.
type migrationTx struct{ tx pgx.Tx }

func (m migrationTx) Version(ctx context.Context) (int, error) {
	if _, err := m.tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, err
	}
	var have int
	err := m.tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have)
	return have, err
}

func (m migrationTx) Apply(ctx context.Context, version int, script string) error {
	// No arguments: the simple protocol runs the file's statements in order.
	if _, err := m.tx.Exec(ctx, script); err != nil {
		return err
	}
	_, err := m.tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", version)
	return err
}

// pgCode reports whether err is a PostgreSQL error with the SQLSTATE code.
func pgCode(err error, code string) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == code
}

// isUnique reports a unique_violation.
func isUnique(err error) bool { return pgCode(err, "23505") }

// isForeignKey reports a foreign_key_violation.
func isForeignKey(err error) bool { return pgCode(err, "23503") }

// notFound turns pgx.ErrNoRows into control.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return control.ErrNotFound
	}
	return err
}

// ts is t as stored: to the microsecond (PostgreSQL's precision, truncated rather than
// rounded so that both stores agree).
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTS is t as stored where a time may be absent: NULL for the zero time.
func nullTS(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := ts(t)
	return &v
}

// fromNullTS is a stored nullable time; the zero time for NULL.
func fromNullTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// oneRow turns the tag of an UPDATE of one identified row into an error: control.ErrNotFound
// when no row matched.
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return control.ErrNotFound
	}
	return nil
}
