package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Entry is one storage event on its way to the webhooks: what a storage node records in its
// event log before it answers the client, and what the log's deliverer sends. It lives here,
// not beside the log (package outbox), so that the storage node can hand entries to any log
// without importing one.
type Entry struct {
	// Seq is the event's sequencer: unique in the log, and the delivery order of entries that
	// share a Key. Must not be 0.
	Seq uint64
	// ID is the event id sent as the HeaderEventID header; it must pass CheckID.
	ID string
	// Key is the ordering key, e.g. bucket + "/" + object key: entries with the same Key reach
	// each target in Seq order. 1 to MaxEntryKeyLen bytes.
	Key string
	// Body is the JSON body of the delivery, at most MaxEntryBodyLen bytes.
	Body []byte
}

// Limits of one Entry.
const (
	MaxEntryKeyLen  = 8 << 10
	MaxEntryBodyLen = 1 << 20
)

// Errors of an event log's Append.
var (
	// ErrInvalidEntry means an entry breaks the rules of Entry; see Entry.Check.
	ErrInvalidEntry = errors.New("events: invalid entry")
	// ErrDuplicateSeq means an entry with the same Seq is already in the log (or twice in one
	// Append). A storage node that records an event again on purpose (a replayed multipart
	// completion) treats it as already recorded.
	ErrDuplicateSeq = errors.New("events: duplicate sequence number")
)

// Check reports, wrapping ErrInvalidEntry, how e breaks the rules of Entry; nil when it
// keeps them.
func (e Entry) Check() error {
	switch {
	case e.Seq == 0:
		return fmt.Errorf("%w: Seq is 0", ErrInvalidEntry)
	case e.Key == "" || len(e.Key) > MaxEntryKeyLen:
		return fmt.Errorf("%w: key length %d", ErrInvalidEntry, len(e.Key))
	case len(e.Body) == 0 || len(e.Body) > MaxEntryBodyLen:
		return fmt.Errorf("%w: body length %d", ErrInvalidEntry, len(e.Body))
	case !json.Valid(e.Body):
		return fmt.Errorf("%w: body is not JSON", ErrInvalidEntry)
	}
	if err := CheckID(e.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	return nil
}
