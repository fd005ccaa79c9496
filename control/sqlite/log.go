package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"presign/control"
)

// MarkEventSeen records the event id and reports whether it was new.
func (s *Store) MarkEventSeen(ctx context.Context, eventID string, at time.Time) (bool, error) {
	if eventID == "" {
		return false, fmt.Errorf("%w: empty event id", control.ErrInvalid)
	}
	var n int64
	err := s.w.do(ctx, func(t *tx) error {
		res, err := t.exec("INSERT INTO events_seen (id, seen) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", eventID, micros(at))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("mark event %s: %w", eventID, err)
	}
	return n == 1, nil
}

// Hit counts one event for key in the current fixed window.
func (s *Store) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (int, error) {
	length, start, err := control.RateWindow(w, now)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.w.do(ctx, func(t *tx) error {
		return t.queryRow(`INSERT INTO rate_counters (name, window_us, start_us, count) VALUES (?, ?, ?, 1)
			ON CONFLICT (name, window_us, start_us) DO UPDATE SET count = count + 1 RETURNING count`,
			key, length, start).Scan(&n)
	})
	if err != nil {
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
	err = s.queryRow(ctx, "SELECT coalesce(sum(count), 0) FROM rate_counters WHERE name = ? AND window_us = ? AND start_us = ?",
		key, length, start).Scan(&n)
	if err != nil {
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
	err = s.w.do(ctx, func(t *tx) error {
		_, err := t.exec("UPDATE rate_counters SET count = count - 1 WHERE name = ? AND window_us = ? AND start_us = ? AND count > 0",
			key, length, start)
		return err
	})
	if err != nil {
		return fmt.Errorf("rate refund %q: %w", key, err)
	}
	return nil
}

// AppendAudit adds an audit entry.
func (s *Store) AppendAudit(ctx context.Context, e control.AuditEntry) error {
	err := s.w.do(ctx, func(t *tx) error { return t.appendAudit(e) })
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// appendAudit adds an audit entry within t.
func (t *tx) appendAudit(e control.AuditEntry) error {
	details, err := control.AuditDetails(e)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO audit (at, user_id, action, upload_id, object_key, remote_addr, details)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, micros(e.At), e.UserID, e.Action, e.UploadID, e.Key, e.RemoteAddr, details)
	return err
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, q control.AuditQuery) ([]control.AuditEntry, error) {
	if err := control.CheckLimit(q.Limit); err != nil {
		return nil, err
	}
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	const cols = "SELECT id, at, user_id, action, upload_id, object_key, remote_addr, details FROM audit"
	var query string
	var args []any
	if q.UserID != "" {
		query, args = cols+" WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?", []any{q.UserID, before, q.Limit}
	} else {
		query, args = cols+" WHERE id < ? ORDER BY id DESC LIMIT ?", []any{before, q.Limit}
	}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []control.AuditEntry
	for rows.Next() {
		var e control.AuditEntry
		var at int64
		var details string
		if err := rows.Scan(&e.ID, &at, &e.UserID, &e.Action, &e.UploadID, &e.Key, &e.RemoteAddr, &details); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.At = fromMicros(at)
		if details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, fmt.Errorf("list audit entry %d: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// Prune removes expired tokens and upload tokens, old seen-event ids and ended rate windows.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	b := micros(before)
	err := s.w.do(ctx, func(t *tx) error {
		total = 0
		for _, q := range []string{
			"DELETE FROM tokens WHERE expires < ?",
			"DELETE FROM upload_tokens WHERE expires < ?",
			"DELETE FROM events_seen WHERE seen < ?",
			"DELETE FROM rate_counters WHERE start_us + window_us < ?",
		} {
			res, err := t.exec(q, b)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return total, nil
}
