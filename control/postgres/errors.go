package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"presign/control"
)

// classify marks the errors that say the database cannot take the call, rather than that the
// call was wrong, with control's sentinels, which the API answers with 503 and 507 whatever the
// store: a full disk (SQLSTATE 53100) with control.ErrStoreFull; a database that cannot be
// reached, reset the connection, is shutting down or has no connection or memory to spare
// with control.ErrStoreUnavailable. Other errors, and a caller that gave up (context.Canceled),
// pass unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return fmt.Errorf("%w: %w", control.ErrStoreFull, err)
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient_resources: out of memory, too many connections
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin or crash shutdown, cannot connect now
			return fmt.Errorf("%w: %w", control.ErrStoreUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", control.ErrStoreUnavailable, err)
	}
	return err
}

// db is the pool as the Store's methods use it: every error it returns has been through
// classify, so that no method has to remember to.
type db struct{ pool *pgxpool.Pool }

func (d db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.pool.Exec(ctx, sql, args...)
	return tag, classify(err)
}

func (d db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(err)
	}
	return classifiedRows{rows}, nil
}

func (d db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{d.pool.QueryRow(ctx, sql, args...)}
}

// sendBatch sends b outside a transaction and reads all its results.
func (d db) sendBatch(ctx context.Context, b *pgx.Batch) error {
	return classify(d.pool.SendBatch(ctx, b).Close())
}

// inTx runs fn in a transaction, committed when fn returns nil and rolled back otherwise.
func (d db) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return classify(pgx.BeginFunc(ctx, d.pool, fn))
}

type classifiedRow struct{ pgx.Row }

func (r classifiedRow) Scan(dest ...any) error { return classify(r.Row.Scan(dest...)) }

type classifiedRows struct{ pgx.Rows }

func (r classifiedRows) Err() error             { return classify(r.Rows.Err()) }
func (r classifiedRows) Scan(dest ...any) error { return classify(r.Rows.Scan(dest...)) }
