-- A username's confusable skeleton (control.UsernameSkeleton, UTS #39): two names that look
-- alike, such as Latin "ape" and Cyrillic "аре", have one skeleton, and the unique index lets
-- only one of them exist, however many replicas create users at once. The skeleton is computed
-- in Go, so the rows that exist are given theirs when the store opens (fillSkeletons in users.go), oldest
-- first; a row left without one (NULL, which the index lets repeat) is a name that looks like
-- an older user's, kept so that its account still logs in.
ALTER TABLE users ADD COLUMN username_skeleton text COLLATE "C";
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
