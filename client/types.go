package client

import "time"

// Session is a login: its bearer token and when it expires.
type Session struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Expires time.Time `json:"expires_at"`
}

// APIKey is a long-lived bearer token for servers and scripts. Key is shown once, when the key
// is created.
type APIKey struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Key     string    `json:"key,omitempty"`
	Created time.Time `json:"created_at"`
	Expires time.Time `json:"expires_at"`
}

// File is a completed upload: the control plane's record of an object in the store.
type File struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256,omitempty"` // hex, when the uploader declared it
	MD5         string    `json:"md5,omitempty"`    // hex, when the uploader declared it
	CRC32C      string    `json:"crc32c,omitempty"` // hex (big-endian), when the uploader declared it
	ETag        string    `json:"etag"`
	Created     time.Time `json:"created_at"`
	// Subject is the upload token's subject, when an upload token made it.
	Subject string `json:"subject,omitempty"`
	// Metadata is what the uploader gave with the ticket; nil when none.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// FileList is one page of files, newest first; Next is the cursor of the next page, empty on
// the last one.
type FileList struct {
	Files []File `json:"files"`
	Next  string `json:"next,omitempty"`
}

// UploadInfo is an upload as the control plane tracks it.
type UploadInfo struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256,omitempty"`
	MD5         string    `json:"md5,omitempty"`
	CRC32C      string    `json:"crc32c,omitempty"`
	State       string    `json:"state"` // pending, uploading, completed, failed, expired, deleted
	Multipart   bool      `json:"multipart"`
	PartSize    int64     `json:"part_size,omitempty"`
	PartCount   int       `json:"part_count,omitempty"`
	Expires     time.Time `json:"expires_at"`
	FailReason  string    `json:"fail_reason,omitempty"`
	// Subject is the upload token's subject, when an upload token made it.
	Subject string `json:"subject,omitempty"`
	// Metadata is what the uploader gave with the ticket; nil when none.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// TicketRequest asks the control plane for permission to upload one file.
type TicketRequest struct {
	Filename    string `json:"filename"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
	// SHA256 of the whole file (hex or base64), optional: a single PUT must then carry it and
	// the store refuses other bytes.
	SHA256 string `json:"sha256,omitempty"`
	// MD5 (hex or base64) and CRC32C (the big-endian CRC32C Castagnoli, hex or base64) of the
	// whole file, optional: the store refuses other bytes, or completion fails the upload and
	// deletes them. A store that cannot check one for this upload refuses the ticket (501).
	MD5    string `json:"md5,omitempty"`
	CRC32C string `json:"crc32c,omitempty"`
	// Form asks for a POST-policy form (for a browser) instead of a PUT URL.
	Form bool `json:"form,omitempty"`
	// Metadata is the application's own, kept on the upload and its file and carried in the
	// upload.completed event: at most 32 keys of [A-Za-z0-9._-], 2 KiB in all (see the
	// control plane's docs for the rules).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Ticket is the control plane's answer to a TicketRequest: one presigned PUT (Method, URL,
// Headers — send exactly these headers), a form (URL, Fields), or, when Multipart, a plan of
// PartCount parts of PartSize bytes (the last one shorter) whose URLs come from PartURLs.
type Ticket struct {
	ID        string            `json:"id"`
	Key       string            `json:"key"`
	State     string            `json:"state"`
	Expires   time.Time         `json:"expires_at"`
	Method    string            `json:"method"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	Multipart bool              `json:"multipart"`
	PartSize  int64             `json:"part_size,omitempty"`
	PartCount int               `json:"part_count,omitempty"`
}

// PartURL is the presigned PUT of one part of a multipart upload, valid until Expires: send
// exactly Size bytes with Headers (signed with the URL; may be empty).
type PartURL struct {
	Number  int               `json:"part_number"`
	URL     string            `json:"url"`
	Size    int64             `json:"size"`
	Headers map[string]string `json:"headers,omitempty"`
	Expires time.Time         `json:"-"`
}

// Part is a part the store holds: its number, the ETag it answered with, and its size.
type Part struct {
	Number int    `json:"part_number"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size,omitempty"`
}

// Link is a presigned GET of a file, usable by anyone who has it until Expires.
type Link struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires_at"`
}
