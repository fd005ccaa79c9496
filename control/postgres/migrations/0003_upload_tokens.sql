-- Upload tokens: upload-only bearer tokens an application's server mints for a browser. files
-- and bytes are what the token's uploads hold now (active ones at their reservation), changed
-- in the same transaction as every upload of the token; the row lock serialises concurrent
-- uploads of one token across replicas.
CREATE TABLE upload_tokens (
	id      text COLLATE "C" PRIMARY KEY,
	hash    bytea NOT NULL UNIQUE,
	user_id text NOT NULL REFERENCES users (id),
	subject text NOT NULL DEFAULT '',
	limits  jsonb NOT NULL DEFAULT '{}', -- control.UploadLimits
	created timestamptz NOT NULL,
	expires timestamptz NOT NULL,
	revoked timestamptz,
	files   integer NOT NULL DEFAULT 0,
	bytes   bigint NOT NULL DEFAULT 0
);
CREATE INDEX upload_tokens_user ON upload_tokens (user_id, created);
CREATE INDEX upload_tokens_expires ON upload_tokens (expires);

-- An upload made with a token names it (no foreign key: expired tokens are pruned, their
-- uploads stay) and carries its subject, as its file does. max_size > 0: the size was not
-- declared, size is 0 until completion, and max_size is what the upload holds of the quota.
ALTER TABLE uploads ADD COLUMN token_id text NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN subject text NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN max_size bigint NOT NULL DEFAULT 0 CHECK (max_size >= 0);
ALTER TABLE files ADD COLUMN subject text NOT NULL DEFAULT '';
