package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"presign/internal/durable"
)

// maxBatch bounds how many changes one transaction commits. Bigger batches amortise the fsync
// better but hold the write lock (and the callers of the batch) longer.
const maxBatch = 256

// errClosed is returned for a change asked of a closed Store.
var errClosed = errors.New("sqlite: store closed")

// writer applies every change of a Store through its single connection. Callers queue an op;
// one goroutine takes all queued ops, runs each inside its own SAVEPOINT of one transaction,
// commits once, and hands every caller its own result. While a batch commits (fsync), the next
// batch queues up, so the fsync rate, not the change rate, bounds throughput.
type writer struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // prepared on conn; used only by the writing goroutine (or migrate before it)
	ops   chan *op
	// reserve, when set, is taken back after a batch once it was released.
	reserve *durable.Reserve
	mu      sync.RWMutex // guards closed and sending on ops
	// closed is set by close; afterwards no op is queued.
	closed bool
	done   chan struct{} // closed when run returns
}

// op is one queued change.
type op struct {
	ctx    context.Context
	fn     func(*tx) error
	result chan error // buffered: run never blocks on a caller that left
}

// tx is what a change sees of the batch transaction: statements on the writer connection.
type tx struct{ w *writer }

func newWriter(conn *sql.Conn) *writer {
	return &writer{
		conn:  conn,
		stmts: map[string]*sql.Stmt{},
		ops:   make(chan *op, 4*maxBatch),
		done:  make(chan struct{}),
	}
}

// do queues fn and waits for its result. fn runs on the writer goroutine inside a transaction
// shared with other changes; if it returns an error, everything it did is rolled back and only
// its caller sees the error. fn must not keep rows open after it returns. If ctx ends before
// the batch starts, fn is not run; if it ends later, do returns ctx.Err() and fn's change may
// still commit.
func (w *writer) do(ctx context.Context, fn func(*tx) error) error {
	o := &op{ctx: ctx, fn: fn, result: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.ops <- o:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-o.result:
		return full(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking ops, lets run commit what is queued, and waits for it to return.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.done
	w.closeStmts()
}

func (w *writer) closeStmts() {
	for q, st := range w.stmts {
		st.Close()
		delete(w.stmts, q)
	}
}

// run is the writing goroutine: it forms batches of whatever is queued and applies them.
func (w *writer) run() {
	defer close(w.done)
	batch := make([]*op, 0, maxBatch)
	for o := range w.ops {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-w.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		w.apply(batch)
		clear(batch)
		if w.reserve != nil {
			w.reserve.Take(time.Now())
		}
	}
}

// apply runs batch in one transaction and reports to each op. A lone op needs no savepoint:
// its failure rolls back the whole transaction. If the transaction itself breaks (SQLite rolled
// it back after an I/O error, or COMMIT failed), every op whose change was lost gets the error.
func (w *writer) apply(batch []*op) {
	ctx := context.Background() // a caller's cancellation must not abort the shared transaction
	errs := make([]error, len(batch))
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	defer func() {
		for i, o := range batch {
			o.result <- errs[i]
		}
	}()
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	t := &tx{w: w}
	lone := len(batch) == 1
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if lone {
			if errs[i] = o.fn(t); errs[i] != nil {
				w.rollback()
				return
			}
			continue
		}
		if _, err := t.exec("SAVEPOINT op"); err != nil {
			w.rollback()
			fail(fmt.Errorf("sqlite: savepoint: %w", err))
			return
		}
		if errs[i] = o.fn(t); errs[i] != nil {
			if _, err := t.exec("ROLLBACK TO op"); err != nil {
				// SQLite rolled the whole transaction back on this op's error (it does so on
				// SQLITE_FULL and I/O errors), so the savepoint is gone. Every op of the
				// batch lost its change to that error, and is told so: a full disk stays a
				// full disk for all of them, not "no such savepoint".
				w.rollback()
				fail(fmt.Errorf("sqlite: transaction lost: %w", errors.Join(errs[i], err)))
				return
			}
		}
		if _, err := t.exec("RELEASE op"); err != nil {
			w.rollback()
			fail(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.rollback()
		fail(fmt.Errorf("sqlite: commit: %w", err))
	}
}

// rollback ends the transaction, if SQLite has not already ended it. Its error says nothing
// new: the callers get the error that made the rollback necessary.
func (w *writer) rollback() {
	w.conn.ExecContext(context.Background(), "ROLLBACK")
}

// stmt returns the prepared statement for q on the writer connection.
func (t *tx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := t.w.stmts[q]; ok {
		return st, nil
	}
	st, err := t.w.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	t.w.stmts[q] = st
	return st, nil
}

// exec runs a statement that returns no rows.
func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

// queryRow runs a statement that returns at most one row.
func (t *tx) queryRow(q string, args ...any) rowScanner {
	st, err := t.stmt(q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(context.Background(), args...)
}

// query runs a statement that returns rows; the caller closes them before its fn returns.
func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}
