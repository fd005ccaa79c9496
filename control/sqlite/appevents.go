package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"presign/control"
	"presign/control/appevents"
)

const endpointCols = "id, owner_id, all_users, url, events, secret, configured, created"

// CreateEndpoint records the endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *control.Endpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	err := s.w.do(ctx, func(t *tx) error {
		_, err := t.exec("INSERT INTO app_endpoints ("+endpointCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			e.ID, e.OwnerID, e.AllUsers, e.URL, int64(e.Events), e.Secret, e.Configured, micros(e.Created))
		if isUnique(err) {
			return control.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", e.ID, err)
	}
	return nil
}

// Endpoint returns the live endpoint with the id.
func (s *Store) Endpoint(ctx context.Context, id string) (*control.Endpoint, error) {
	e, err := scanEndpoint(s.queryRow(ctx, "SELECT "+endpointCols+" FROM app_endpoints WHERE id = ? AND deleted IS NULL", id))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", id, notFound(err))
	}
	return e, nil
}

// ListEndpoints returns the owner's live endpoints, or all of them for "".
func (s *Store) ListEndpoints(ctx context.Context, ownerID string) ([]control.Endpoint, error) {
	q := "SELECT " + endpointCols + " FROM app_endpoints WHERE deleted IS NULL AND (? = '' OR owner_id = ?) ORDER BY created, id"
	rows, err := s.query(ctx, q, ownerID, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	out := []control.Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// DeleteEndpoint deletes the endpoint and ends its pending deliveries.
func (s *Store) DeleteEndpoint(ctx context.Context, id string, at time.Time) error {
	err := s.w.do(ctx, func(t *tx) error { return t.deleteEndpoint(id, at) })
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return nil
}

func (t *tx) deleteEndpoint(id string, at time.Time) error {
	res, err := t.exec("UPDATE app_endpoints SET deleted = ? WHERE id = ? AND deleted IS NULL", micros(at), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return cmpErr(err, control.ErrNotFound)
	}
	_, err = t.exec(`UPDATE app_deliveries SET state = 'dead', finished = ?, lease_until = 0, claim = ''
		WHERE endpoint_id = ? AND state = 'pending'`, micros(at), id)
	return err
}

// cmpErr is err, or want when err is nil.
func cmpErr(err, want error) error {
	if err != nil {
		return err
	}
	return want
}

// ConfigureEndpoints makes eps the configured endpoints.
func (s *Store) ConfigureEndpoints(ctx context.Context, eps []control.Endpoint, at time.Time) error {
	for i := range eps {
		if err := eps[i].Validate(); err != nil {
			return err
		}
		if !eps[i].Configured {
			return fmt.Errorf("%w: endpoint %s is not a configured one", control.ErrInvalid, eps[i].ID)
		}
	}
	err := s.w.do(ctx, func(t *tx) error {
		keep := map[string]bool{}
		for _, e := range eps {
			keep[e.ID] = true
			if _, err := t.exec(`INSERT INTO app_endpoints (`+endpointCols+`) VALUES (?, '', ?, ?, ?, ?, 1, ?)
				ON CONFLICT (id) DO UPDATE SET all_users = excluded.all_users, url = excluded.url, events = excluded.events,
					secret = excluded.secret, configured = 1, deleted = NULL`,
				e.ID, e.AllUsers, e.URL, int64(e.Events), e.Secret, micros(e.Created)); err != nil {
				return err
			}
		}
		rows, err := t.query("SELECT id FROM app_endpoints WHERE configured = 1 AND deleted IS NULL")
		if err != nil {
			return err
		}
		var drop []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !keep[id] {
				drop = append(drop, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range drop {
			if err := t.deleteEndpoint(id, at); err != nil {
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

func scanEndpoint(r rowScanner) (*control.Endpoint, error) {
	var e control.Endpoint
	var events, created int64
	if err := r.Scan(&e.ID, &e.OwnerID, &e.AllUsers, &e.URL, &events, &e.Secret, &e.Configured, &created); err != nil {
		return nil, err
	}
	e.Events, e.Created = appevents.Mask(events), fromMicros(created)
	return &e, nil
}

// emitEvent writes the event the transition from cur to next emits, if any, with one delivery
// per live endpoint that subscribed to its type and sees the upload's owner. seq is the
// upload's event count before the transition; it returns the count after it.
func (t *tx) emitEvent(cur, next *control.Upload, seq int64, reason appevents.Reason) (int64, error) {
	ev, err := control.TransitionEvent(cur, next, reason, seq+1)
	if err != nil || ev == nil {
		return seq, err
	}
	if _, err := t.exec("INSERT INTO app_events (id, upload_id, user_id, seq, type, created, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
		ev.ID, ev.UploadID, ev.UserID, ev.Sequence, string(ev.Type), micros(ev.At), ev.Body); err != nil {
		return seq, err
	}
	at := micros(ev.At)
	_, err = t.exec(`INSERT INTO app_deliveries (event_id, endpoint_id, upload_id, seq, type, state, created, since, next_at)
		SELECT ?, id, ?, ?, ?, 'pending', ?, ?, ? FROM app_endpoints
		WHERE deleted IS NULL AND (events & ?) != 0 AND (all_users = 1 OR owner_id = ?)`,
		ev.ID, ev.UploadID, ev.Sequence, string(ev.Type), at, at, at, int64(appevents.MaskOf(ev.Type)), ev.UserID)
	return ev.Sequence, err
}

// claimToken returns a fresh claim token.
func claimToken() string { return rand.Text() }

// ClaimDeliveries leases due deliveries. Being the only writer (SQLite's file lock serialising
// the writers of other Stores), the selection and the lease cannot interleave with another
// claim; the batch's rows share one token, and are read back by the ids the lease returned.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]appevents.Delivery, error) {
	if err := control.CheckClaim(limit, lease); err != nil {
		return nil, err
	}
	token := claimToken()
	var out []appevents.Delivery
	err := s.w.do(ctx, func(t *tx) error {
		out = out[:0]
		n := micros(now)
		rows, err := t.query(`UPDATE app_deliveries SET lease_until = ?, claim = ? WHERE id IN (
				SELECT d.id FROM app_deliveries d
				WHERE d.state = 'pending' AND d.next_at <= ? AND d.lease_until < ?
					AND NOT EXISTS (SELECT 1 FROM app_deliveries p WHERE p.endpoint_id = d.endpoint_id
						AND p.upload_id = d.upload_id AND p.state = 'pending' AND p.seq < d.seq)
				ORDER BY d.next_at LIMIT ?)
			RETURNING id`, micros(now.Add(lease)), token, n, n, limit)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		rows, err = t.query(`SELECT d.id, d.event_id, d.type, d.upload_id, d.seq, d.since, d.attempts, e.body,
				p.id, p.url, p.secret, p.configured
			FROM json_each(?) AS k JOIN app_deliveries d ON d.id = k.value
				JOIN app_events e ON e.id = d.event_id JOIN app_endpoints p ON p.id = d.endpoint_id
			ORDER BY d.next_at, d.id`, string(idsJSON))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d appevents.Delivery
			var typ, secret string
			var since int64
			if err := rows.Scan(&d.ID, &d.EventID, &typ, &d.UploadID, &d.Sequence, &since, &d.Attempts, &d.Body,
				&d.Endpoint.ID, &d.Endpoint.URL, &secret, &d.Endpoint.Trusted); err != nil {
				return err
			}
			d.Claim, d.Type, d.Since = token, appevents.Type(typ), fromMicros(since)
			if d.Endpoint.Secret, err = control.EndpointSecret(secret); err != nil {
				return fmt.Errorf("endpoint %s: %w", d.Endpoint.ID, err)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// FinishDeliveries records the outcomes in one transaction, with three statements whatever
// their number (the outcomes go in as one JSON array): the deliverer records hundreds at once,
// and per-row statements were most of its cost. An outcome whose claim is no longer the
// delivery's changes nothing, its attempt included.
func (s *Store) FinishDeliveries(ctx context.Context, outs []appevents.Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	type row struct {
		ID       int64  `json:"id"`
		Claim    string `json:"claim"`
		State    string `json:"state,omitempty"`
		NextAt   int64  `json:"next_at"`
		Finished *int64 `json:"finished,omitempty"`
	}
	var put, tried []row
	byID := make(map[int64]appevents.Outcome, len(outs))
	for _, o := range outs {
		r := row{ID: o.DeliveryID, Claim: o.Claim, NextAt: micros(o.NextAt)}
		if !o.Attempted {
			put = append(put, r)
			continue
		}
		state, finished := control.OutcomeState(o)
		r.State = string(state)
		if !finished.IsZero() {
			f := micros(finished)
			r.Finished = &f
		}
		tried = append(tried, r)
		byID[o.DeliveryID] = o
	}
	putJSON, err := json.Marshal(put)
	if err != nil {
		return err
	}
	triedJSON, err := json.Marshal(tried)
	if err != nil {
		return err
	}
	err = s.w.do(ctx, func(t *tx) error {
		if len(put) > 0 {
			if _, err := t.exec(`UPDATE app_deliveries SET next_at = j.next_at, lease_until = 0, claim = ''
				FROM (SELECT value ->> 'id' AS id, value ->> 'claim' AS claim, value ->> 'next_at' AS next_at FROM json_each(?)) AS j
				WHERE app_deliveries.id = j.id AND app_deliveries.claim = j.claim AND app_deliveries.state = 'pending'`,
				string(putJSON)); err != nil {
				return err
			}
		}
		if len(tried) == 0 {
			return nil
		}
		rows, err := t.query(`UPDATE app_deliveries SET attempts = attempts + 1, state = j.state, next_at = j.next_at,
				finished = j.finished, lease_until = 0, claim = ''
			FROM (SELECT value ->> 'id' AS id, value ->> 'claim' AS claim, value ->> 'state' AS state,
				value ->> 'next_at' AS next_at, value ->> 'finished' AS finished FROM json_each(?)) AS j
			WHERE app_deliveries.id = j.id AND app_deliveries.claim = j.claim AND app_deliveries.state = 'pending'
			RETURNING app_deliveries.id, app_deliveries.attempts`, string(triedJSON))
		if err != nil {
			return err
		}
		type attempt struct {
			ID       int64  `json:"id"`
			N        int    `json:"n"`
			At       int64  `json:"at"`
			Duration int64  `json:"duration_us"`
			Status   int    `json:"status"`
			Error    string `json:"error"`
			Response string `json:"response"`
		}
		var as []attempt
		for rows.Next() {
			var a attempt
			if err := rows.Scan(&a.ID, &a.N); err != nil {
				rows.Close()
				return err
			}
			o := byID[a.ID]
			a.At, a.Duration, a.Status, a.Error, a.Response = micros(o.At), o.Duration.Microseconds(), o.Status, o.Error, o.Response
			as = append(as, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(as) == 0 {
			return err
		}
		b, err := json.Marshal(as)
		if err != nil {
			return err
		}
		_, err = t.exec(`INSERT INTO app_delivery_attempts (delivery_id, n, at, duration_us, status, error, response)
			SELECT value ->> 'id', value ->> 'n', value ->> 'at', value ->> 'duration_us', value ->> 'status',
				value ->> 'error', value ->> 'response' FROM json_each(?)`, string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("finish deliveries: %w", err)
	}
	return nil
}

const deliveryCols = "id, endpoint_id, event_id, type, upload_id, seq, state, attempts, created, since, next_at, finished"

// Deliveries returns the endpoint's deliveries q selects, newest first, with their latest
// attempts.
func (s *Store) Deliveries(ctx context.Context, q control.DeliveryQuery) ([]control.DeliveryInfo, error) {
	if err := control.CheckDeliveryQuery(q); err != nil {
		return nil, err
	}
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.query(ctx, "SELECT "+deliveryCols+` FROM app_deliveries
		WHERE endpoint_id = ? AND id < ? AND (? = '' OR state = ?) ORDER BY id DESC LIMIT ?`,
		q.EndpointID, before, string(q.State), string(q.State), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	out := []control.DeliveryInfo{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		out = append(out, *d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	for i := range out {
		if out[i].Log, err = s.attemptLog(ctx, out[i].ID); err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
	}
	return out, nil
}

// attemptLog returns the delivery's latest attempts, oldest first.
func (s *Store) attemptLog(ctx context.Context, id int64) ([]control.DeliveryAttempt, error) {
	rows, err := s.query(ctx, `SELECT at, duration_us, status, error, response FROM app_delivery_attempts
		WHERE delivery_id = ? ORDER BY n DESC LIMIT ?`, id, control.MaxAttemptLog)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	log := []control.DeliveryAttempt{}
	for rows.Next() {
		var a control.DeliveryAttempt
		var at, dur int64
		if err := rows.Scan(&at, &dur, &a.Status, &a.Error, &a.Response); err != nil {
			return nil, err
		}
		a.At, a.Duration = fromMicros(at), time.Duration(dur)*time.Microsecond
		log = append(log, a)
	}
	for i, j := 0, len(log)-1; i < j; i, j = i+1, j-1 {
		log[i], log[j] = log[j], log[i]
	}
	return log, rows.Err()
}

func scanDelivery(r rowScanner) (*control.DeliveryInfo, error) {
	var d control.DeliveryInfo
	var typ, state string
	var created, since, next int64
	var finished sql.NullInt64
	if err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &typ, &d.UploadID, &d.Sequence, &state, &d.Attempts,
		&created, &since, &next, &finished); err != nil {
		return nil, err
	}
	d.Type, d.State = appevents.Type(typ), control.DeliveryState(state)
	d.Created, d.Since, d.Finished = fromMicros(created), fromMicros(since), fromNullMicros(finished)
	if d.State == control.DeliveryPending {
		d.NextAt = fromMicros(next)
	}
	return &d, nil
}

// Redeliver makes the delivery pending again, due at now. A pending delivery keeps its claim,
// so an attempt in flight is not doubled by another replica.
func (s *Store) Redeliver(ctx context.Context, endpointID string, id int64, now time.Time) (*control.DeliveryInfo, error) {
	var d *control.DeliveryInfo
	err := s.w.do(ctx, func(t *tx) error {
		n := micros(now)
		var err error
		d, err = scanDelivery(t.queryRow(`UPDATE app_deliveries SET next_at = ?, since = ?, finished = NULL,
				lease_until = CASE WHEN state = 'pending' THEN lease_until ELSE 0 END,
				claim = CASE WHEN state = 'pending' THEN claim ELSE '' END, state = 'pending'
			WHERE id = ? AND endpoint_id = ?
				AND endpoint_id IN (SELECT id FROM app_endpoints WHERE deleted IS NULL)
			RETURNING `+deliveryCols, n, n, id, endpointID))
		return notFound(err)
	})
	if err != nil {
		return nil, fmt.Errorf("redeliver %d: %w", id, err)
	}
	return d, nil
}

// PruneDeliveries removes finished deliveries, their attempts, and the events left without one.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.w.do(ctx, func(t *tx) error {
		b := micros(before)
		if _, err := t.exec(`DELETE FROM app_delivery_attempts WHERE delivery_id IN
			(SELECT id FROM app_deliveries WHERE finished < ?)`, b); err != nil {
			return err
		}
		res, err := t.exec("DELETE FROM app_deliveries WHERE finished < ?", b)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = t.exec(`DELETE FROM app_events WHERE created < ?
			AND NOT EXISTS (SELECT 1 FROM app_deliveries d WHERE d.event_id = app_events.id)`, b)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}
