package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// UploadTokenRequest asks for an upload token: what one browser (one of the application's
// users, named by Subject) may upload. Zero limits are the caller's policy's; each given one
// must be no wider than it.
type UploadTokenRequest struct {
	// Subject is the application's own name for who uploads (its user id); it is recorded on
	// every upload and file the token makes.
	Subject string `json:"subject"`
	// TTL is how long the token works (0: the server's default, 15 minutes; at most 24 h).
	TTL                 time.Duration `json:"-"`
	MaxFileBytes        int64         `json:"max_file_bytes,omitempty"`
	MaxTotalBytes       int64         `json:"max_total_bytes,omitempty"`
	MaxFiles            int           `json:"max_files,omitempty"`
	AllowedContentTypes []string      `json:"allowed_content_types,omitempty"`
	// KeyPrefix puts the token's objects under u/<user-id>/<KeyPrefix>: whole segments of
	// [A-Za-z0-9._-], each ending in '/'.
	KeyPrefix string `json:"key_prefix,omitempty"`
}

// UploadLimits are an upload token's limits as the control plane applies them.
type UploadLimits struct {
	MaxFileBytes        int64    `json:"max_file_bytes,omitempty"`
	MaxTotalBytes       int64    `json:"max_total_bytes,omitempty"`
	MaxFiles            int      `json:"max_files,omitempty"`
	AllowedContentTypes []string `json:"allowed_content_types,omitempty"`
	KeyPrefix           string   `json:"key_prefix,omitempty"`
}

// UploadToken is an upload-only token. Token (the secret, for presign.js or an
// Authorization header) and CompanionEndpoint (for Uppy's companionEndpoint) are set only in
// the answer that minted it.
type UploadToken struct {
	ID                string       `json:"id"`
	Token             string       `json:"token,omitempty"`
	Subject           string       `json:"subject"`
	Limits            UploadLimits `json:"limits"`
	Files             int          `json:"files"`
	Bytes             int64        `json:"bytes"`
	Created           time.Time    `json:"created_at"`
	Expires           time.Time    `json:"expires_at"`
	Revoked           *time.Time   `json:"revoked_at,omitempty"`
	CompanionEndpoint string       `json:"companion_endpoint,omitempty"`
}

// NewUploadToken mints an upload token for a browser (with an API key or a session).
func (c *Client) NewUploadToken(ctx context.Context, req UploadTokenRequest) (*UploadToken, error) {
	in := struct {
		UploadTokenRequest
		ExpiresInSeconds int64 `json:"expires_in_seconds,omitempty"`
	}{UploadTokenRequest: req}
	if req.TTL > 0 {
		in.ExpiresInSeconds = int64((req.TTL + time.Second - 1) / time.Second)
	}
	var t UploadToken
	if err := c.call(ctx, http.MethodPost, "/v1/upload-tokens", in, &t, unsent); err != nil {
		return nil, err
	}
	return &t, nil
}

// UploadTokens lists the caller's upload tokens, newest first, without their secrets.
func (c *Client) UploadTokens(ctx context.Context) ([]UploadToken, error) {
	var out struct {
		UploadTokens []UploadToken `json:"upload_tokens"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/upload-tokens", nil, &out, brief); err != nil {
		return nil, err
	}
	return out.UploadTokens, nil
}

// RevokeUploadToken revokes one of the caller's upload tokens at once.
func (c *Client) RevokeUploadToken(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/upload-tokens/"+url.PathEscape(id), nil, nil, brief)
}
