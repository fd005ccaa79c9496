-- The application's metadata of an upload, kept on its file: a JSON object of strings
-- (control.EncodeMetadata), '{}' when there is none. control.CheckMetadata bounds it.
ALTER TABLE uploads ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE files ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
