-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL where a time may be absent.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	admin         INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	policy        TEXT NOT NULL DEFAULT '{}', -- control.PolicyOverride as JSON
	created       INTEGER NOT NULL
);

-- usage is kept beside users, changed in the same transaction as every upload that moves it,
-- so the quota check on the ticket path reads one row instead of summing a user's uploads.
CREATE TABLE usage (
	user_id TEXT PRIMARY KEY REFERENCES users (id),
	bytes   INTEGER NOT NULL DEFAULT 0,
	pending INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE default_policy (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	doc TEXT NOT NULL -- control.Policy as JSON
);

CREATE TABLE tokens (
	id        TEXT PRIMARY KEY,
	hash      BLOB NOT NULL UNIQUE,
	kind      TEXT NOT NULL CHECK (kind IN ('session', 'apikey')),
	user_id   TEXT NOT NULL REFERENCES users (id),
	name      TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	revoked   INTEGER,
	last_used INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id, kind, created);
CREATE INDEX tokens_expires ON tokens (expires);

CREATE TABLE uploads (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id),
	object_key   TEXT NOT NULL UNIQUE,
	filename     TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL CHECK (size >= 0),
	sha256       TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL CHECK (state IN ('pending', 'uploading', 'completed', 'failed', 'expired', 'deleted')),
	multipart_id TEXT NOT NULL DEFAULT '',
	part_size    INTEGER NOT NULL DEFAULT 0,
	part_count   INTEGER NOT NULL DEFAULT 0,
	nonce        TEXT NOT NULL DEFAULT '',
	expires      INTEGER NOT NULL,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	completed    INTEGER,
	etag         TEXT NOT NULL DEFAULT '',
	fail_reason  TEXT NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0 -- ClaimOverdue's lease; 0 when none
);
-- The reconciler's scan: only active uploads, by deadline.
CREATE INDEX uploads_overdue ON uploads (expires) WHERE state IN ('pending', 'uploading');

CREATE TABLE files (
	id           TEXT PRIMARY KEY REFERENCES uploads (id), -- one file per upload, at most
	user_id      TEXT NOT NULL REFERENCES users (id),
	object_key   TEXT NOT NULL,
	filename     TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL,
	sha256       TEXT NOT NULL DEFAULT '',
	etag         TEXT NOT NULL DEFAULT '',
	created      INTEGER NOT NULL,
	deleted      INTEGER
);
-- ListFiles: a user's live files, newest first, (created, id) as the stable cursor.
CREATE INDEX files_user ON files (user_id, created DESC, id DESC) WHERE deleted IS NULL;

CREATE TABLE events_seen (
	id   TEXT PRIMARY KEY,
	seen INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_seen_at ON events_seen (seen);

CREATE TABLE rate_counters (
	name      TEXT NOT NULL,
	window_us INTEGER NOT NULL, -- window length
	start_us  INTEGER NOT NULL, -- window start
	count     INTEGER NOT NULL,
	PRIMARY KEY (name, window_us, start_us)
) WITHOUT ROWID;
CREATE INDEX rate_counters_end ON rate_counters (start_us + window_us);

CREATE TABLE audit (
	id          INTEGER PRIMARY KEY, -- rows are never deleted, so ids are never reused
	at          INTEGER NOT NULL,
	user_id     TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL,
	upload_id   TEXT NOT NULL DEFAULT '',
	object_key  TEXT NOT NULL DEFAULT '',
	remote_addr TEXT NOT NULL DEFAULT '',
	details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_user ON audit (user_id, id);
