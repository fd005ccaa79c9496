// Package events defines the storage events that a presign storage node sends to webhooks, the
// signature that lets a receiver trust them, and the Entry in which a node records an event
// for delivery (package outbox keeps and delivers entries).
//
// # Message shape
//
// A delivery body is a Message: the S3 event-notification JSON, version 2.1, as documented in
// the Amazon S3 user guide ("Event message structure") and as MinIO emits it, so that code
// written for S3 or MinIO events reads presign events unchanged. presign follows S3 in:
//
//   - field names, nesting and order, eventVersion "2.1", s3SchemaVersion "1.0";
//   - eventTime in ISO 8601 with milliseconds, UTC ("2006-01-02T15:04:05.000Z");
//   - object.key URL-encoded the way S3 does it (form encoding: a space becomes "+", "/" becomes
//     "%2F"); use Object.DecodedKey to get the real key back;
//   - object.eTag without the surrounding quotes of the HTTP ETag header;
//   - object.sequencer an upper-case hexadecimal string that only orders events of one key.
//     S3's sequencers vary in length and S3 tells receivers to left-pad before comparing;
//     presign's are always 16 digits, so plain string comparison already orders them.
//
// It differs from S3 in:
//
//   - eventSource is "presign:s3" (S3 sends "aws:s3", MinIO "minio:s3");
//   - eventName carries the "s3:" prefix ("s3:ObjectCreated:Put"), as MinIO does; S3 sends it
//     without the prefix ("ObjectCreated:Put"). A receiver that must accept both can trim "s3:";
//   - object.contentType and object.userMetadata are present, as in MinIO's events; S3 has
//     neither;
//   - object.size is always present (0 for ObjectRemoved events, where S3 leaves it out);
//   - object.versionId is left out when there is no version, where S3 sends null.
//
// # Delivery signature
//
// See Sign and Verify: every delivery carries an event id and an HMAC-SHA256 signature over a
// timestamp, the id and the body.
//
// # Where to start
//
// record.go holds the message shape (NewRecord, Marshal, Parse), signature.go the delivery
// signature, entry.go the Entry of an event log.
package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Fixed values of every record presign emits.
const (
	EventVersion  = "2.1"
	EventSource   = "presign:s3"
	SchemaVersion = "1.0"
	// TimeLayout is the layout of Record.EventTime.
	TimeLayout = "2006-01-02T15:04:05.000Z"
)

// Name is an event type, such as ObjectCreatedPut.
type Name string

// The event types a presign storage node emits.
const (
	ObjectCreatedPut                     Name = "s3:ObjectCreated:Put"
	ObjectCreatedPost                    Name = "s3:ObjectCreated:Post"
	ObjectCreatedCopy                    Name = "s3:ObjectCreated:Copy"
	ObjectCreatedCompleteMultipartUpload Name = "s3:ObjectCreated:CompleteMultipartUpload"
	ObjectRemovedDelete                  Name = "s3:ObjectRemoved:Delete"
)

// Message is the body of one delivery.
type Message struct {
	Records []Record `json:"Records"`
}

// Record describes one change to one object.
type Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         Name              `json:"eventName"`
	UserIdentity      Identity          `json:"userIdentity"`
	RequestParameters RequestParameters `json:"requestParameters"`
	ResponseElements  ResponseElements  `json:"responseElements"`
	S3                Entity            `json:"s3"`
}

// Identity names an account or access key.
type Identity struct {
	PrincipalID string `json:"principalId"`
}

// RequestParameters describe the request that caused the event.
type RequestParameters struct {
	SourceIPAddress string `json:"sourceIPAddress"`
}

// ResponseElements identify the request in the storage node's logs.
type ResponseElements struct {
	RequestID string `json:"x-amz-request-id"`
	HostID    string `json:"x-amz-id-2"`
}

// Entity is the bucket and object an event is about.
type Entity struct {
	SchemaVersion   string `json:"s3SchemaVersion"`
	ConfigurationID string `json:"configurationId"`
	Bucket          Bucket `json:"bucket"`
	Object          Object `json:"object"`
}

// Bucket identifies the bucket of an event.
type Bucket struct {
	Name          string   `json:"name"`
	OwnerIdentity Identity `json:"ownerIdentity"`
	ARN           string   `json:"arn"`
}

// Object describes the object of an event.
type Object struct {
	// Key is URL-encoded (see EncodeKey); DecodedKey returns the key itself.
	Key          string            `json:"key"`
	Size         int64             `json:"size"`
	ETag         string            `json:"eTag,omitempty"`
	ContentType  string            `json:"contentType,omitempty"`
	UserMetadata map[string]string `json:"userMetadata,omitempty"`
	VersionID    string            `json:"versionId,omitempty"`
	// Sequencer orders the events of one key: of two events of the same key, the one with the
	// greater Sequencer happened later. It says nothing about events of different keys.
	Sequencer string `json:"sequencer"`
}

// ObjectEvent holds the plain values that NewRecord turns into a Record.
type ObjectEvent struct {
	Name   Name
	Time   time.Time
	Region string

	Bucket       string
	Key          string // the real key, not encoded
	Size         int64
	ETag         string // with or without surrounding quotes
	ContentType  string
	UserMetadata map[string]string // kept as given
	VersionID    string
	Sequencer    uint64

	RequestID       string
	HostID          string // the node that served the request (x-amz-id-2)
	SourceIP        string
	Principal       string // who made the request, e.g. the access key id
	Owner           string // the bucket's owner; Principal when empty
	ConfigurationID string // the notification rule or target that the event is sent for
}

// NewRecord builds the record for one event. It copies UserMetadata, so the caller may reuse
// its map.
func NewRecord(e ObjectEvent) Record {
	owner := e.Owner
	if owner == "" {
		owner = e.Principal
	}
	var meta map[string]string
	if len(e.UserMetadata) > 0 {
		meta = maps.Clone(e.UserMetadata)
	}
	return Record{
		EventVersion:      EventVersion,
		EventSource:       EventSource,
		AWSRegion:         e.Region,
		EventTime:         e.Time.UTC().Format(TimeLayout),
		EventName:         e.Name,
		UserIdentity:      Identity{PrincipalID: e.Principal},
		RequestParameters: RequestParameters{SourceIPAddress: e.SourceIP},
		ResponseElements:  ResponseElements{RequestID: e.RequestID, HostID: e.HostID},
		S3: Entity{
			SchemaVersion:   SchemaVersion,
			ConfigurationID: e.ConfigurationID,
			Bucket: Bucket{
				Name:          e.Bucket,
				OwnerIdentity: Identity{PrincipalID: owner},
				ARN:           "arn:aws:s3:::" + e.Bucket,
			},
			Object: Object{
				Key:          EncodeKey(e.Key),
				Size:         e.Size,
				ETag:         strings.Trim(e.ETag, `"`),
				ContentType:  e.ContentType,
				UserMetadata: meta,
				VersionID:    e.VersionID,
				Sequencer:    FormatSequencer(e.Sequencer),
			},
		},
	}
}

// Marshal returns the JSON body of a delivery that carries records.
func Marshal(records ...Record) ([]byte, error) {
	b, err := json.Marshal(Message{Records: records})
	if err != nil {
		return nil, fmt.Errorf("events: marshal message: %w", err)
	}
	return b, nil
}

// Parse decodes a delivery body. It checks the JSON shape only; verify the delivery's
// signature (Verify) before trusting what it says.
func Parse(body []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, fmt.Errorf("events: parse message: %w", err)
	}
	return m, nil
}

// EncodeKey encodes an object key as S3 writes it in event records: form (query) encoding,
// where a space becomes "+" and every byte other than letters, digits and "-_.~" becomes %XX.
func EncodeKey(key string) string {
	return url.QueryEscape(key)
}

// DecodedKey returns the object key that Key encodes.
func (o Object) DecodedKey() (string, error) {
	k, err := url.QueryUnescape(o.Key)
	if err != nil {
		return "", fmt.Errorf("events: decode object key %q: %w", o.Key, err)
	}
	return k, nil
}

// FormatSequencer writes seq as a Sequencer: 16 upper-case hexadecimal digits, so that string
// order equals numeric order.
func FormatSequencer(seq uint64) string {
	return fmt.Sprintf("%016X", seq)
}

// SequencerValue returns the number that Sequencer encodes. It accepts S3's sequencers too,
// as long as their value fits in 64 bits.
func (o Object) SequencerValue() (uint64, error) {
	s := strings.TrimLeft(o.Sequencer, "0")
	if s == "" {
		if o.Sequencer == "" {
			return 0, fmt.Errorf("events: empty sequencer")
		}
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("events: sequencer %q: %w", o.Sequencer, err)
	}
	return v, nil
}

// Time returns EventTime as a time.
func (r Record) Time() (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, r.EventTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("events: event time: %w", err)
	}
	return t, nil
}
