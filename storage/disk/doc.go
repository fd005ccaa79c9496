// Package disk is the storage node's local-disk Backend and NonceStore.
//
// # Layout
//
// Under Options.Dir:
//
//	index.db            bbolt index: buckets, objects (bucket → key → record), multipart
//	                    uploads and their parts, the set of object files in use, the live
//	                    bytes of each segment, nonces, and the node-wide sequencer
//	segments/<id>.seg   bytes of objects of at most Options.SmallMax bytes (1 MiB), appended
//	                    one entry after another (format in segment.go); <id> is 16 hex
//	                    digits, the epoch of the Open that created it and a counter
//	objects/xx/<id>     bytes of a larger object, or of one part of a multipart upload;
//	                    <id> is the epoch of the Open that wrote it, its fan-out byte xx,
//	                    and 88 random bits
//	tmp/<id>            bytes being written to a file of their own; emptied by Open
//
// Keys and bucket names exist only inside the index (and in segment entries, as data); no
// file name is derived from them, so "../x", "a" beside "a/b" or 1024-byte keys need no
// special care. The index holds no object bytes (stores written before segments keep their
// small objects inline in records, which still read): it stays small, and since bbolt maps it
// into memory, so does the memory it takes.
//
// # Writes
//
// A body of at most 64 KiB (bufferedMax) is read into a pooled buffer behind room for its
// entry's header, bucket and key, and written with one pwrite at a range reserved at the tail
// of the active segment; a body of declared size up to SmallMax streams through a pooled
// buffer into its reserved range, the entry's header (whose CRC covers the data) written last.
// Either is committed in a record that names the segment, offset and length, and the
// committer fdatasyncs the segment once for all the changes of a batch that point into it,
// before the batch's transaction. A larger body, or one of unknown size beyond 64 KiB,
// streams through a pooled buffer into tmp/, is fsynced, closed, renamed into objects/xx/ and
// the directory fsynced; then its record is committed. Conditions (IfNoneMatch, IfMatch) are
// checked inside the commit transaction. Only after the commit does PutObject return, and only
// then is the replaced object's file removed (a replaced segment entry just stops counting as
// live). Any failure before the commit (a body error, a cancelled context, a full disk, a
// failed condition) removes the new file, or leaves the segment range dead, and leaves the
// index untouched.
//
// # Segments and compaction
//
// A segment takes entries until it reaches Options.SegmentSize; then a new one is created
// (its directory entry made durable before use) and the old one is sealed. The index keeps,
// per segment, its end (past every byte a record ever pointed at) and its live bytes (the
// entries records point at now), updated in the same transactions as the records. A sealed
// segment at least half dead is compacted in the background: its live entries are copied to
// the active segment and their records moved by compare-and-set, then the segment, no longer
// referenced, is removed (compact.go). Readers share one descriptor per segment and read with
// pread (a large range is sent from a descriptor of its own, with sendfile); holding the
// shared one pins the segment's bytes across compaction (segmentSet).
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
// that moment in one bbolt transaction: concurrent writers share its fdatasyncs, and that of
// the segment their bytes are in, instead of queueing behind one each. Concurrent renames into
// one directory likewise share one fsync of it (dirSyncer); new files go to one fan-out
// directory at a time (1,024 files each, then the next), so that concurrent writers do rename
// into the same directory.
//
// # Crash safety
//
// An object becomes visible only through its index commit, which comes after its bytes (and
// for a file, its directory entry) are durable; bbolt commits atomically. So after a crash at
// any instant each key holds a whole old or a whole new version. What a crash can leave is
// garbage no record names: files in tmp/, object files renamed but never committed, or
// replaced but not yet removed; segment bytes past the end the index records, segments never
// referenced, or emptied but not yet removed. Open empties tmp/, cuts segment tails and removes
// unreferenced segments before any write starts, and a background scan removes object files
// of earlier epochs that the index does not name; files of the current epoch are never
// touched by it, so it cannot race a write in progress.
package disk
