package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/control"
)

// MarkEventSeen records the event id and reports whether it was new. Of concurrent inserts of
// one id, ON CONFLICT DO NOTHING lets exactly one insert a row.
func (s *Store) MarkEventSeen(ctx context.Context, eventID string, at time.Time) (bool, error) {
	if eventID == "" {
		return false, fmt.Errorf("%w: empty event id", control.ErrInvalid)
	}
	tag, err := s.db.Exec(ctx, "INSERT INTO events_seen (id, seen) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", eventID, ts(at))
	if err != nil {
		return false, fmt.Errorf("mark event %s: %w", eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Hit counts one event for key in the current fixed window.
func (s *Store) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (int, error) {
	length, start, err := control.RateWindow(w, now)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(ctx, `INSERT INTO rate_counters (name, window_us, start_us, count) VALUES ($1, $2, $3, 1)
		ON CONFLICT (name, window_us, start_us) DO UPDATE SET count = rate_counters.count + 1 RETURNING count`,
		key, length, start).Scan(&n); err != nil {
		return 0, fmt.Errorf("rate hit %q: %w", key, err)
	}
	return n, nil
}

// Hits returns the current window's count for key.
func (s *Store) Hits(ctx context.Context, key string, w time.Duration, now time.Time) (int, error) {
	length, start, err := control.RateWindow(w, now)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(ctx, "SELECT coalesce(sum(count), 0) FROM rate_counters WHERE name = $1 AND window_us = $2 AND start_us = $3",
		key, length, start).Scan(&n); err != nil {
		return 0, fmt.Errorf("rate hits %q: %w", key, err)
	}
	return n, nil
}

// Refund takes one event back from the current window's count for key.
func (s *Store) Refund(ctx context.Context, key string, w time.Duration, now time.Time) error {
	length, start, err := control.RateWindow(w, now)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, "UPDATE rate_counters SET count = count - 1 WHERE name = $1 AND window_us = $2 AND start_us = $3 AND count > 0",
		key, length, start); err != nil {
		return fmt.Errorf("rate refund %q: %w", key, err)
	}
	return nil
}

// AppendAudit adds an audit entry.
func (s *Store) AppendAudit(ctx context.Context, e control.AuditEntry) error {
	b := &pgx.Batch{}
	if err := queueAudit(b, e); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if err := s.db.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// queueAudit adds the insert of an audit entry to b.
func queueAudit(b *pgx.Batch, e control.AuditEntry) error {
	details, err := control.AuditDetails(e)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO audit (at, user_id, action, upload_id, object_key, remote_addr, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, ts(e.At), e.UserID, e.Action, e.UploadID, e.Key, e.RemoteAddr, details)
	return nil
}

// ListAudit returns audit entries newest first. Identity values are handed out before commit,
// so an entry committed late can appear below a cursor already passed; the log is for reading,
// not for exactly-once consumption.
func (s *Store) ListAudit(ctx context.Context, q control.AuditQuery) ([]control.AuditEntry, error) {
	if err := control.CheckLimit(q.Limit); err != nil {
		return nil, err
	}
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	const cols = "SELECT id, at, user_id, action, upload_id, object_key, remote_addr, details FROM audit"
	var rows pgx.Rows
	var err error
	if q.UserID != "" {
		rows, err = s.db.Query(ctx, cols+" WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3", q.UserID, before, q.Limit)
	} else {
		rows, err = s.db.Query(ctx, cols+" WHERE id < $1 ORDER BY id DESC LIMIT $2", before, q.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out, err := collect(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

func scanAudit(r pgx.Row) (*control.AuditEntry, error) {
	var e control.AuditEntry
	var details []byte
	if err := r.Scan(&e.ID, &e.At, &e.UserID, &e.Action, &e.UploadID, &e.Key, &e.RemoteAddr, &details); err != nil {
		return nil, err
	}
	e.At = e.At.UTC()
	if string(details) != "{}" {
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, fmt.Errorf("audit entry %d: %w", e.ID, err)
		}
	}
	return &e, nil
}

// Prune removes expired tokens and upload tokens, old seen-event ids and ended rate windows, in
// one transaction.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	b := ts(before)
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		total = 0
		for _, q := range []string{
			"DELETE FROM tokens WHERE expires < $1",
			"DELETE FROM upload_tokens WHERE expires < $1",
			"DELETE FROM events_seen WHERE seen < $1",
		} {
			tag, err := tx.Exec(ctx, q, b)
			if err != nil {
				return err
			}
			total += tag.RowsAffected()
		}
		tag, err := tx.Exec(ctx, "DELETE FROM rate_counters WHERE start_us + window_us < $1", b.UnixMicro())
		if err != nil {
			return err
		}
		total += tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return total, nil
}
