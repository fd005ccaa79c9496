package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/control"
	"presign/control/appevents"
)

const endpointCols = "id, owner_id, all_users, url, events, secret, configured, created"

// CreateEndpoint records the endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *control.Endpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, "INSERT INTO app_endpoints ("+endpointCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		e.ID, e.OwnerID, e.AllUsers, e.URL, int64(e.Events), e.Secret, e.Configured, ts(e.Created))
	if isUnique(err) {
		err = control.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", e.ID, err)
	}
	return nil
}

// Endpoint returns the live endpoint with the id.
func (s *Store) Endpoint(ctx context.Context, id string) (*control.Endpoint, error) {
	e, err := scanEndpoint(s.db.QueryRow(ctx, "SELECT "+endpointCols+" FROM app_endpoints WHERE id = $1 AND deleted IS NULL", id))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", id, notFound(err))
	}
	return e, nil
}

// ListEndpoints returns the owner's live endpoints, or all of them for "".
func (s *Store) ListEndpoints(ctx context.Context, ownerID string) ([]control.Endpoint, error) {
	rows, err := s.db.Query(ctx, "SELECT "+endpointCols+` FROM app_endpoints
		WHERE deleted IS NULL AND ($1 = '' OR owner_id = $1) ORDER BY created, id`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	out, err := collect(rows, scanEndpoint)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	if out == nil {
		out = []control.Endpoint{}
	}
	return out, nil
}

// DeleteEndpoint deletes the endpoint and ends its pending deliveries.
func (s *Store) DeleteEndpoint(ctx context.Context, id string, at time.Time) error {
	err := s.db.inTx(ctx, func(tx pgx.Tx) error { return deleteEndpoint(ctx, tx, id, at) })
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return nil
}

func deleteEndpoint(ctx context.Context, tx pgx.Tx, id string, at time.Time) error {
	if err := oneRow(tx.Exec(ctx, "UPDATE app_endpoints SET deleted = $1 WHERE id = $2 AND deleted IS NULL", ts(at), id)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE app_deliveries SET state = 'dead', finished = $1, lease_until = '-infinity', claim = ''
		WHERE endpoint_id = $2 AND state = 'pending'`, ts(at), id)
	return err
}

// ConfigureEndpoints makes eps the configured endpoints. Replicas starting at once serialise
// on a transaction-level advisory lock.
func (s *Store) ConfigureEndpoints(ctx context.Context, eps []control.Endpoint, at time.Time) error {
	for i := range eps {
		if err := eps[i].Validate(); err != nil {
			return err
		}
		if !eps[i].Configured {
			return fmt.Errorf("%w: endpoint %s is not a configured one", control.ErrInvalid, eps[i].ID)
		}
	}
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('presign.configure_endpoints'))"); err != nil {
			return err
		}
		keep := make([]string, 0, len(eps))
		for _, e := range eps {
			keep = append(keep, e.ID)
			if _, err := tx.Exec(ctx, `INSERT INTO app_endpoints (`+endpointCols+`) VALUES ($1, '', $2, $3, $4, $5, true, $6)
				ON CONFLICT (id) DO UPDATE SET all_users = excluded.all_users, url = excluded.url, events = excluded.events,
					secret = excluded.secret, configured = true, deleted = NULL`,
				e.ID, e.AllUsers, e.URL, int64(e.Events), e.Secret, ts(e.Created)); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, "SELECT id FROM app_endpoints WHERE configured AND deleted IS NULL AND NOT (id = ANY($1))", keep)
		if err != nil {
			return err
		}
		drop, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range drop {
			if err := deleteEndpoint(ctx, tx, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("configure endpoints: %w", err)
	}
	return nil
}

func scanEndpoint(r pgx.Row) (*control.Endpoint, error) {
	var e control.Endpoint
	var events int64
	if err := r.Scan(&e.ID, &e.OwnerID, &e.AllUsers, &e.URL, &events, &e.Secret, &e.Configured, &e.Created); err != nil {
		return nil, err
	}
	e.Events, e.Created = appevents.Mask(events), e.Created.UTC()
	return &e, nil
}

// queueEvent queues the writing of the event the transition from cur to next emits, if any,
// with one delivery per live endpoint that subscribed to its type and sees the upload's owner.
// seq is the upload's event count before the transition; it returns the count after it.
func queueEvent(b *pgx.Batch, cur, next *control.Upload, seq int64, reason appevents.Reason) (int64, error) {
	ev, err := control.TransitionEvent(cur, next, reason, seq+1)
	if err != nil || ev == nil {
		return seq, err
	}
	b.Queue("INSERT INTO app_events (id, upload_id, user_id, seq, type, created, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		ev.ID, ev.UploadID, ev.UserID, ev.Sequence, string(ev.Type), ts(ev.At), ev.Body)
	b.Queue(`INSERT INTO app_deliveries (event_id, endpoint_id, upload_id, seq, type, state, created, since, next_at)
		SELECT $1, id, $2, $3, $4, 'pending', $5, $5, $5 FROM app_endpoints
		WHERE deleted IS NULL AND (events & $6) <> 0 AND (all_users OR owner_id = $7)`,
		ev.ID, ev.UploadID, ev.Sequence, string(ev.Type), ts(ev.At), int64(appevents.MaskOf(ev.Type)), ev.UserID)
	return ev.Sequence, nil
}

// claimDeliveries leases due deliveries in one statement. SKIP LOCKED passes over rows another
// replica is claiming or finishing right now; for the rows it locks, PostgreSQL re-checks the
// WHERE clause against the newest version, so a lease committed meanwhile excludes the row. An
// upload's later delivery to an endpoint waits while an earlier one is pending, claimed or not.
const claimDeliveries = `WITH due AS (
	SELECT d.id FROM app_deliveries d
	WHERE d.state = 'pending' AND d.next_at <= $1 AND d.lease_until < $1
		AND NOT EXISTS (SELECT 1 FROM app_deliveries p WHERE p.endpoint_id = d.endpoint_id
			AND p.upload_id = d.upload_id AND p.state = 'pending' AND p.seq < d.seq)
	ORDER BY d.next_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED
)
UPDATE app_deliveries d SET lease_until = $3, claim = $4
FROM due, app_events e, app_endpoints p
WHERE d.id = due.id AND e.id = d.event_id AND p.id = d.endpoint_id
RETURNING d.id, d.next_at, d.event_id, d.type, d.upload_id, d.seq, d.since, d.attempts, e.body, p.id, p.url, p.secret, p.configured`

// ClaimDeliveries leases due deliveries.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]appevents.Delivery, error) {
	if err := control.CheckClaim(limit, lease); err != nil {
		return nil, err
	}
	token := rand.Text()
	rows, err := s.db.Query(ctx, claimDeliveries, ts(now), limit, ts(now.Add(lease)), token)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	type claimed struct {
		d    appevents.Delivery
		next time.Time
	}
	var cs []claimed
	for rows.Next() {
		var c claimed
		var typ, secret string
		if err := rows.Scan(&c.d.ID, &c.next, &c.d.EventID, &typ, &c.d.UploadID, &c.d.Sequence, &c.d.Since, &c.d.Attempts,
			&c.d.Body, &c.d.Endpoint.ID, &c.d.Endpoint.URL, &secret, &c.d.Endpoint.Trusted); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		c.d.Claim, c.d.Type, c.d.Since = token, appevents.Type(typ), c.d.Since.UTC()
		if c.d.Endpoint.Secret, err = control.EndpointSecret(secret); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries: endpoint %s: %w", c.d.Endpoint.ID, err)
		}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	slices.SortFunc(cs, func(a, b claimed) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return int(a.d.ID - b.d.ID)
	})
	out := make([]appevents.Delivery, len(cs))
	for i, c := range cs {
		out[i] = c.d
	}
	return out, nil
}

// FinishDeliveries records the outcomes in one transaction and one round trip; an outcome whose
// claim is no longer the delivery's changes nothing, its attempt included.
func (s *Store) FinishDeliveries(ctx context.Context, outs []appevents.Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, o := range outs {
		if !o.Attempted {
			b.Queue(`UPDATE app_deliveries SET next_at = $1, lease_until = '-infinity', claim = ''
				WHERE id = $2 AND claim = $3 AND state = 'pending'`, ts(o.NextAt), o.DeliveryID, o.Claim)
			continue
		}
		state, finished := control.OutcomeState(o)
		b.Queue(`WITH d AS (
				UPDATE app_deliveries SET attempts = attempts + 1, state = $1, next_at = $2, finished = $3,
					lease_until = '-infinity', claim = ''
				WHERE id = $4 AND claim = $5 AND state = 'pending' RETURNING id, attempts)
			INSERT INTO app_delivery_attempts (delivery_id, n, at, duration_us, status, error, response)
			SELECT id, attempts, $6, $7, $8, $9, $10 FROM d`,
			string(state), ts(o.NextAt), nullTS(finished), o.DeliveryID, o.Claim,
			ts(o.At), o.Duration.Microseconds(), o.Status, o.Error, o.Response)
	}
	err := s.db.inTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("finish deliveries: %w", err)
	}
	return nil
}

const deliveryCols = "id, endpoint_id, event_id, type, upload_id, seq, state, attempts, created, since, next_at, finished"

// Deliveries returns the endpoint's deliveries q selects, newest first, with their latest
// attempts (one more query for all of them).
func (s *Store) Deliveries(ctx context.Context, q control.DeliveryQuery) ([]control.DeliveryInfo, error) {
	if err := control.CheckDeliveryQuery(q); err != nil {
		return nil, err
	}
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.Query(ctx, "SELECT "+deliveryCols+` FROM app_deliveries
		WHERE endpoint_id = $1 AND id < $2 AND ($3 = '' OR state = $3) ORDER BY id DESC LIMIT $4`,
		q.EndpointID, before, string(q.State), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	out, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	if len(out) == 0 {
		return []control.DeliveryInfo{}, nil
	}
	ids := make([]int64, len(out))
	at := make(map[int64]int, len(out))
	for i, d := range out {
		ids[i], at[d.ID] = d.ID, i
		out[i].Log = []control.DeliveryAttempt{}
	}
	rows, err = s.db.Query(ctx, `SELECT delivery_id, at, duration_us, status, error, response FROM (
			SELECT *, row_number() OVER (PARTITION BY delivery_id ORDER BY n DESC) AS r
			FROM app_delivery_attempts WHERE delivery_id = ANY($1)) a
		WHERE r <= $2 ORDER BY delivery_id, n`, ids, control.MaxAttemptLog)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, dur int64
		var a control.DeliveryAttempt
		if err := rows.Scan(&id, &a.At, &dur, &a.Status, &a.Error, &a.Response); err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		a.At, a.Duration = a.At.UTC(), time.Duration(dur)*time.Microsecond
		out[at[id]].Log = append(out[at[id]].Log, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	return out, nil
}

func scanDelivery(r pgx.Row) (*control.DeliveryInfo, error) {
	var d control.DeliveryInfo
	var typ, state string
	var next time.Time
	var finished *time.Time
	if err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &typ, &d.UploadID, &d.Sequence, &state, &d.Attempts,
		&d.Created, &d.Since, &next, &finished); err != nil {
		return nil, err
	}
	d.Type, d.State = appevents.Type(typ), control.DeliveryState(state)
	d.Created, d.Since, d.Finished = d.Created.UTC(), d.Since.UTC(), fromNullTS(finished)
	if d.State == control.DeliveryPending {
		d.NextAt = next.UTC()
	}
	return &d, nil
}

// Redeliver makes the delivery pending again, due at now. A pending delivery keeps its claim,
// so an attempt in flight is not doubled by another replica.
func (s *Store) Redeliver(ctx context.Context, endpointID string, id int64, now time.Time) (*control.DeliveryInfo, error) {
	d, err := scanDelivery(s.db.QueryRow(ctx, `UPDATE app_deliveries SET next_at = $1, since = $1, finished = NULL,
			lease_until = CASE WHEN state = 'pending' THEN lease_until ELSE '-infinity' END,
			claim = CASE WHEN state = 'pending' THEN claim ELSE '' END, state = 'pending'
		WHERE id = $2 AND endpoint_id = $3
			AND endpoint_id IN (SELECT id FROM app_endpoints WHERE deleted IS NULL)
		RETURNING `+deliveryCols, ts(now), id, endpointID))
	if err != nil {
		return nil, fmt.Errorf("redeliver %d: %w", id, notFound(err))
	}
	return d, nil
}

// PruneDeliveries removes finished deliveries, their attempts, and the events left without one.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		b := ts(before)
		if _, err := tx.Exec(ctx, `DELETE FROM app_delivery_attempts WHERE delivery_id IN
			(SELECT id FROM app_deliveries WHERE finished < $1)`, b); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM app_deliveries WHERE finished < $1", b)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM app_events e WHERE created < $1
			AND NOT EXISTS (SELECT 1 FROM app_deliveries d WHERE d.event_id = e.id)`, b)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}
