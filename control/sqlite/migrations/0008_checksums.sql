-- The MD5 and CRC32C a ticket declared for the whole file, hex (32 and 8 digits, the CRC32C
-- big-endian), '' when not declared: completion compares them with what the store reports,
-- and the file keeps them.
ALTER TABLE uploads ADD COLUMN md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN crc32c TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN crc32c TEXT NOT NULL DEFAULT '';
