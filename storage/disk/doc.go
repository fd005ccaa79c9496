// Package disk is the storage node's local-disk Backend and NonceStore.
//
// # Layout
//
// Under Options.Dir:
//
//	index.db          bbolt index: buckets, objects (bucket → key → record), multipart
//	                  uploads and their parts, the set of object files in use, nonces, and
//	                  the node-wide sequencer
//	objects/xx/<id>   bytes of an object larger than Options.InlineMax, or of one part of a
//	                  multipart upload; <id> is the epoch of the Open that wrote it and 96
//	                  random bits, xx its first random byte
//	tmp/<id>          bytes being written; emptied by Open
//
// Keys and bucket names exist only inside the index; no file name is derived from them, so
// "../x", "a" beside "a/b" or 1024-byte keys need no special care.
//
// # Writes
//
// A body of at most InlineMax bytes is read into a pooled buffer and committed inside its
// index record. A larger one streams through the same buffer into tmp/, is fsynced, closed,
// renamed into objects/xx/ and the directory fsynced; then its record is committed. Conditions
// (IfNoneMatch, IfMatch) are checked inside the commit transaction. Only after the commit does
// PutObject return, and only then is the replaced object's file removed. Any failure before
// the commit (a body error, a cancelled context, a full disk, a failed condition) removes the
// new file and leaves the index untouched.
//
// # Multipart uploads
//
// Each part is written like a large object, to a file of its own, and committed as an entry of
// its upload. Completion commits, in one transaction, an object record that lists the part
// files in order (record kind multipart): the object is read as their concatenation, and no
// byte is copied a second time (on ext4, which has no reflinks, copy_file_range of 1 GiB took
// about 2 s; the record takes milliseconds for 1,000 parts). An Object of such a record pins
// its files rather than holding them open (see filePins). A memo of each completion answers
// retried completions for a day; uploads older than Options.MultipartExpiry are swept.
//
// # Group commit
//
// Every index change goes through one committer goroutine that applies all changes queued at
// that moment in one bbolt transaction: concurrent writers share its fdatasyncs instead of
// queueing behind one each. Concurrent renames into one directory likewise share one fsync of
// it (dirSyncer).
//
// # Crash safety
//
// An object becomes visible only through its index commit, which comes after its bytes and
// directory entry are durable; bbolt commits atomically. So after a crash at any instant each
// key holds a whole old or a whole new version. What a crash can leave is garbage no record
// names: files in tmp/, and object files renamed but never committed, or replaced but not yet
// removed. Open empties tmp/ before any write starts, and a background scan removes object
// files of earlier epochs that the index does not name; files of the current epoch are never
// touched by it, so it cannot race a write in progress.
package disk
