package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// NewTicket asks for permission to upload one file: a presigned PUT, a form, or a multipart
// plan (see Ticket). The upload is recorded, and its declared size counts against the quota,
// until it completes, fails or expires. Refusals by policy are *APIError with codes
// object_too_large, content_type_refused, quota_exceeded, too_many_pending or rate_limited.
// Upload does all of this for you; NewTicket is for an application that hands the URL to
// someone else, e.g. a browser.
func (c *Client) NewTicket(ctx context.Context, req TicketRequest) (*Ticket, error) {
	var t Ticket
	if err := c.call(ctx, http.MethodPost, "/v1/uploads", req, &t, unsent); err != nil {
		return nil, err
	}
	return &t, nil
}

// PartURLs signs PUT URLs for parts of a multipart upload, now (at most 1,000 a call). Each
// URL lives for the policy's TTL from now and caps its body at the part's size. crc32c, when
// not nil, holds each part's base64 CRC-32C in the order of numbers: a control plane in front
// of a presign storage node signs it into the URL (it is then among the part's Headers, and
// the store refuses other bytes); otherwise the URLs come without it.
func (c *Client) PartURLs(ctx context.Context, uploadID string, numbers []int, crc32c []string) ([]PartURL, error) {
	var out struct {
		Expires time.Time `json:"expires_at"`
		Parts   []PartURL `json:"parts"`
	}
	in := struct {
		PartNumbers []int    `json:"part_numbers"`
		CRC32C      []string `json:"checksums_crc32c,omitempty"`
	}{numbers, crc32c}
	if err := c.call(ctx, http.MethodPost, "/v1/uploads/"+url.PathEscape(uploadID)+"/parts", in, &out, persistent); err != nil {
		return nil, err
	}
	for i := range out.Parts {
		out.Parts[i].Expires = out.Expires
	}
	return out.Parts, nil
}

// StoredParts returns the parts the store already holds for a multipart upload that is still
// uploading, in part-number order.
func (c *Client) StoredParts(ctx context.Context, uploadID string) ([]Part, error) {
	var out struct {
		Parts []Part `json:"parts"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/uploads/"+url.PathEscape(uploadID)+"/parts", nil, &out, brief); err != nil {
		return nil, err
	}
	return out.Parts, nil
}

// Complete tells the control plane the upload's bytes are in the store. It checks the object
// (size, type, checksum) and returns the file record; for a multipart upload it first
// assembles parts (nil: the parts the store holds). It is idempotent: completing a completed
// upload returns its file. Errors: not_uploaded (409) while bytes are missing,
// object_mismatch (422) when the stored object differs from the ticket (the upload failed).
func (c *Client) Complete(ctx context.Context, uploadID string, parts []Part) (*File, error) {
	var in any
	if parts != nil {
		in = map[string][]Part{"parts": parts}
	}
	var f File
	if err := c.call(ctx, http.MethodPost, "/v1/uploads/"+url.PathEscape(uploadID)+"/complete", in, &f, persistent); err != nil {
		return nil, err
	}
	return &f, nil
}

// UploadStatus returns an upload and its state.
func (c *Client) UploadStatus(ctx context.Context, uploadID string) (*UploadInfo, error) {
	var u UploadInfo
	if err := c.call(ctx, http.MethodGet, "/v1/uploads/"+url.PathEscape(uploadID), nil, &u, brief); err != nil {
		return nil, err
	}
	return &u, nil
}

// Abort ends an upload that is pending or uploading: it fails, its quota is freed and its
// parts are discarded. Like Delete, it is retried only when the request never left.
func (c *Client) Abort(ctx context.Context, uploadID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/uploads/"+url.PathEscape(uploadID), nil, nil, unsent)
}

// List returns one page of the caller's files, newest first: limit files (0: the server's
// default) after the cursor (empty: from the start).
func (c *Client) List(ctx context.Context, after string, limit int) (*FileList, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/files"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l FileList
	if err := c.call(ctx, http.MethodGet, path, nil, &l, brief); err != nil {
		return nil, err
	}
	return &l, nil
}

// Files yields every file of the caller, newest first, fetching pages as the loop goes. An
// error ends the sequence with it.
func (c *Client) Files(ctx context.Context) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		after := ""
		for {
			l, err := c.List(ctx, after, 0)
			if err != nil {
				yield(File{}, err)
				return
			}
			for _, f := range l.Files {
				if !yield(f, nil) {
					return
				}
			}
			if l.Next == "" {
				return
			}
			after = l.Next
		}
	}
}

// File returns one of the caller's files; IsNotFound(err) when there is none with this id.
func (c *Client) File(ctx context.Context, id string) (*File, error) {
	var f File
	if err := c.call(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id), nil, &f, brief); err != nil {
		return nil, err
	}
	return &f, nil
}

// Delete removes one of the caller's files from the store and from the records. It is
// retried only when the request never left: a repeated delete would answer not found.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/files/"+url.PathEscape(id), nil, nil, unsent)
}

// Share returns a presigned GET of the file that anyone holding it may use until it expires,
// after ttl (rounded up to whole seconds; 0: the policy's URL lifetime, 15 minutes by
// default). A ttl above the policy's is refused: *APIError ttl_too_long (403). The store
// answers the URL with Content-Disposition: attachment and the original file name.
func (c *Client) Share(ctx context.Context, id string, ttl time.Duration) (*Link, error) {
	return c.share(ctx, id, ttl, brief)
}

func (c *Client) share(ctx context.Context, id string, ttl time.Duration, mode retryMode) (*Link, error) {
	path := "/v1/files/" + url.PathEscape(id) + "/download"
	if ttl > 0 {
		path += "?ttl_seconds=" + strconv.FormatInt(int64((ttl+time.Second-1)/time.Second), 10)
	}
	var l Link
	if err := c.call(ctx, http.MethodGet, path, nil, &l, mode); err != nil {
		return nil, err
	}
	return &l, nil
}
