-- The control plane's schema. Applied by postgres.Open under an advisory lock, in one
-- transaction, into the connection's search_path schema. Text that is sorted on is COLLATE "C"
-- (byte order), as in the SQLite store, whatever the database's locale.

CREATE TABLE users (
	id            text PRIMARY KEY,
	username      text COLLATE "C" NOT NULL UNIQUE,
	password_hash text NOT NULL,
	admin         boolean NOT NULL DEFAULT false,
	disabled      boolean NOT NULL DEFAULT false,
	policy        jsonb NOT NULL DEFAULT '{}', -- control.PolicyOverride
	created       timestamptz NOT NULL
);

-- usage is kept beside users, changed in the same transaction as every upload that moves it.
-- Its row lock is what serialises concurrent tickets of one user across replicas.
CREATE TABLE usage (
	user_id text PRIMARY KEY REFERENCES users (id),
	bytes   bigint NOT NULL DEFAULT 0,
	pending integer NOT NULL DEFAULT 0
);

CREATE TABLE default_policy (
	id  integer PRIMARY KEY CHECK (id = 1),
	doc jsonb NOT NULL -- control.Policy
);

CREATE TABLE tokens (
	id        text COLLATE "C" PRIMARY KEY,
	hash      bytea NOT NULL UNIQUE,
	kind      text NOT NULL CHECK (kind IN ('session', 'apikey')),
	user_id   text NOT NULL REFERENCES users (id),
	name      text NOT NULL DEFAULT '',
	created   timestamptz NOT NULL,
	expires   timestamptz NOT NULL,
	revoked   timestamptz,
	last_used timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id, kind, created);
CREATE INDEX tokens_expires ON tokens (expires);

CREATE TABLE uploads (
	id           text COLLATE "C" PRIMARY KEY,
	user_id      text NOT NULL REFERENCES users (id),
	object_key   text NOT NULL UNIQUE,
	filename     text NOT NULL,
	content_type text NOT NULL,
	size         bigint NOT NULL CHECK (size >= 0),
	sha256       text NOT NULL DEFAULT '',
	state        text NOT NULL CHECK (state IN ('pending', 'uploading', 'completed', 'failed', 'expired', 'deleted')),
	multipart_id text NOT NULL DEFAULT '',
	part_size    bigint NOT NULL DEFAULT 0,
	part_count   integer NOT NULL DEFAULT 0,
	nonce        text NOT NULL DEFAULT '',
	expires      timestamptz NOT NULL,
	created      timestamptz NOT NULL,
	updated      timestamptz NOT NULL,
	completed    timestamptz,
	etag         text NOT NULL DEFAULT '',
	fail_reason  text NOT NULL DEFAULT '',
	lease_until  timestamptz NOT NULL DEFAULT '-infinity' -- ClaimOverdue's lease
);
-- The reconciler's scan: only active uploads, by deadline.
CREATE INDEX uploads_overdue ON uploads (expires) WHERE state IN ('pending', 'uploading');

CREATE TABLE files (
	id           text COLLATE "C" PRIMARY KEY REFERENCES uploads (id), -- one file per upload, at most
	user_id      text NOT NULL REFERENCES users (id),
	object_key   text NOT NULL,
	filename     text NOT NULL,
	content_type text NOT NULL,
	size         bigint NOT NULL,
	sha256       text NOT NULL DEFAULT '',
	etag         text NOT NULL DEFAULT '',
	created      timestamptz NOT NULL,
	deleted      timestamptz
);
-- ListFiles: a user's live files, newest first, (created, id) as the stable cursor.
CREATE INDEX files_user ON files (user_id, created DESC, id DESC) WHERE deleted IS NULL;

CREATE TABLE events_seen (
	id   text PRIMARY KEY,
	seen timestamptz NOT NULL
);
CREATE INDEX events_seen_at ON events_seen (seen);

CREATE TABLE rate_counters (
	name      text NOT NULL,
	window_us bigint NOT NULL, -- window length
	start_us  bigint NOT NULL, -- window start, microseconds since the epoch
	count     integer NOT NULL,
	PRIMARY KEY (name, window_us, start_us)
);
CREATE INDEX rate_counters_end ON rate_counters ((start_us + window_us));

CREATE TABLE audit (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          timestamptz NOT NULL,
	user_id     text NOT NULL DEFAULT '',
	action      text NOT NULL,
	upload_id   text NOT NULL DEFAULT '',
	object_key  text NOT NULL DEFAULT '',
	remote_addr text NOT NULL DEFAULT '',
	details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_user ON audit (user_id, id);
