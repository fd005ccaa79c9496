-- Usernames are stored in their canonical form (PRECIS UsernameCaseMapped: lower case, see
-- control/username.go), so "ALICE" can no longer be created beside "alice". Existing names
-- are lower-cased here (SQLite's lower() folds ASCII only; other names log in as they were)
-- unless that would collide: of several names that differ only by case, the one already in
-- lower case, else the oldest, takes the lower-case form; the others keep theirs, still log in
-- by their exact name, and are for an administrator to rename or disable.
UPDATE users SET username = lower(username)
WHERE username <> lower(username)
	AND NOT EXISTS (SELECT 1 FROM users o WHERE o.username = lower(users.username))
	AND id = (SELECT min(o.id) FROM users o WHERE lower(o.username) = lower(users.username));
