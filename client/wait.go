package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// MaxUploadWait is the longest WaitUpload asks the control plane to hold its answer.
const MaxUploadWait = time.Minute

// WaitUpload returns the upload once the control plane says it ended (completed, failed,
// expired or deleted), or as it is after wait (at most MaxUploadWait): one request that the
// control plane answers the moment the upload ends, instead of polling UploadStatus. A caller
// that needs the end waits again while State is pending or uploading.
func (c *Client) WaitUpload(ctx context.Context, uploadID string, wait time.Duration) (*UploadInfo, error) {
	wait = min(max(wait, 0), MaxUploadWait)
	var u UploadInfo
	path := "/v1/uploads/" + url.PathEscape(uploadID) + "?wait=" + url.QueryEscape(wait.String())
	if err := c.call(ctx, http.MethodGet, path, nil, &u, brief); err != nil {
		return nil, err
	}
	return &u, nil
}
