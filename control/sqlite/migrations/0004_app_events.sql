-- Application events (control.AppEventStore): the endpoints that receive them, the events,
-- one delivery per event and subscribed endpoint, and each delivery's attempts. An event and
-- its deliveries are written in the same transaction as the upload transition they tell of.

-- event_seq numbers an upload's application events: TransitionUpload takes the next one with
-- the transition, so the sequence survives the pruning of old events.
ALTER TABLE uploads ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE app_endpoints (
	id         TEXT PRIMARY KEY,
	owner_id   TEXT NOT NULL DEFAULT '', -- '' for a configured endpoint
	all_users  INTEGER NOT NULL DEFAULT 0,
	url        TEXT NOT NULL,
	events     INTEGER NOT NULL, -- appevents.Mask
	secret     TEXT NOT NULL,
	configured INTEGER NOT NULL DEFAULT 0,
	created    INTEGER NOT NULL,
	deleted    INTEGER -- NULL while live
);
-- The fan-out at each transition: the live endpoints of the owner, and those for all users.
CREATE INDEX app_endpoints_owner ON app_endpoints (owner_id) WHERE deleted IS NULL;
CREATE INDEX app_endpoints_all ON app_endpoints (all_users) WHERE deleted IS NULL AND all_users = 1;

CREATE TABLE app_events (
	id        TEXT PRIMARY KEY,
	upload_id TEXT NOT NULL,
	user_id   TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	type      TEXT NOT NULL,
	created   INTEGER NOT NULL,
	body      BLOB NOT NULL, -- the envelope, delivered byte for byte
	UNIQUE (upload_id, seq)
);
CREATE INDEX app_events_created ON app_events (created);

-- AUTOINCREMENT: a pruned delivery's id is never reused, so the API's cursors stay stable.
CREATE TABLE app_deliveries (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id    TEXT NOT NULL REFERENCES app_events (id),
	endpoint_id TEXT NOT NULL REFERENCES app_endpoints (id),
	upload_id   TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	type        TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL,
	since       INTEGER NOT NULL, -- start of this round of attempts: created, or the last redelivery
	next_at     INTEGER NOT NULL,
	lease_until INTEGER NOT NULL DEFAULT 0, -- a claim's lease; 0 when none
	claim       TEXT NOT NULL DEFAULT '',
	finished    INTEGER, -- delivered or given up; NULL while pending
	UNIQUE (endpoint_id, event_id)
);
-- The claim: pending deliveries by due time; the order check: an endpoint's pending
-- deliveries of one upload by sequence; the API: an endpoint's deliveries newest first.
CREATE INDEX app_deliveries_due ON app_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX app_deliveries_order ON app_deliveries (endpoint_id, upload_id, seq) WHERE state = 'pending';
CREATE INDEX app_deliveries_endpoint ON app_deliveries (endpoint_id, id);
CREATE INDEX app_deliveries_finished ON app_deliveries (finished) WHERE finished IS NOT NULL;

CREATE TABLE app_delivery_attempts (
	delivery_id INTEGER NOT NULL REFERENCES app_deliveries (id),
	n           INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	duration_us INTEGER NOT NULL,
	status      INTEGER NOT NULL,
	error       TEXT NOT NULL,
	response    TEXT NOT NULL,
	PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;
