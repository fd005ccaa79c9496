-- Application events (control.AppEventStore): the endpoints that receive them, the events,
-- one delivery per event and subscribed endpoint, and each delivery's attempts. An event and
-- its deliveries are written in the same transaction as the upload transition they tell of.

-- event_seq numbers an upload's application events: TransitionUpload takes the next one with
-- the transition, under the upload's row lock, so the sequence survives the pruning of old
-- events.
ALTER TABLE uploads ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE app_endpoints (
	id         text COLLATE "C" PRIMARY KEY,
	owner_id   text NOT NULL DEFAULT '', -- '' for a configured endpoint
	all_users  boolean NOT NULL DEFAULT false,
	url        text NOT NULL,
	events     bigint NOT NULL, -- appevents.Mask
	secret     text NOT NULL,
	configured boolean NOT NULL DEFAULT false,
	created    timestamptz NOT NULL,
	deleted    timestamptz -- NULL while live
);
-- The fan-out at each transition: the live endpoints of the owner, and those for all users.
CREATE INDEX app_endpoints_owner ON app_endpoints (owner_id) WHERE deleted IS NULL;
CREATE INDEX app_endpoints_all ON app_endpoints (all_users) WHERE deleted IS NULL AND all_users;

CREATE TABLE app_events (
	id        text COLLATE "C" PRIMARY KEY,
	upload_id text NOT NULL,
	user_id   text NOT NULL,
	seq       bigint NOT NULL,
	type      text NOT NULL,
	created   timestamptz NOT NULL,
	body      bytea NOT NULL, -- the envelope, delivered byte for byte
	UNIQUE (upload_id, seq)
);
CREATE INDEX app_events_created ON app_events (created);

CREATE TABLE app_deliveries (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id    text NOT NULL REFERENCES app_events (id),
	endpoint_id text NOT NULL REFERENCES app_endpoints (id),
	upload_id   text NOT NULL,
	seq         bigint NOT NULL,
	type        text NOT NULL,
	state       text NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts    integer NOT NULL DEFAULT 0,
	created     timestamptz NOT NULL,
	since       timestamptz NOT NULL, -- start of this round of attempts: created, or the last redelivery
	next_at     timestamptz NOT NULL,
	lease_until timestamptz NOT NULL DEFAULT '-infinity', -- a claim's lease
	claim       text NOT NULL DEFAULT '',
	finished    timestamptz, -- delivered or given up; NULL while pending
	UNIQUE (endpoint_id, event_id)
);
-- The claim: pending deliveries by due time; the order check: an endpoint's pending
-- deliveries of one upload by sequence; the API: an endpoint's deliveries newest first.
CREATE INDEX app_deliveries_due ON app_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX app_deliveries_order ON app_deliveries (endpoint_id, upload_id, seq) WHERE state = 'pending';
CREATE INDEX app_deliveries_endpoint ON app_deliveries (endpoint_id, id);
CREATE INDEX app_deliveries_finished ON app_deliveries (finished) WHERE finished IS NOT NULL;

CREATE TABLE app_delivery_attempts (
	delivery_id bigint NOT NULL REFERENCES app_deliveries (id),
	n           integer NOT NULL,
	at          timestamptz NOT NULL,
	duration_us bigint NOT NULL,
	status      integer NOT NULL,
	error       text NOT NULL,
	response    text NOT NULL,
	PRIMARY KEY (delivery_id, n)
);
