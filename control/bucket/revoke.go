package bucket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"presign/control"
)

var _ control.Revoker = (*Bucket)(nil)

// revokePath is the storage node's revocation call (docs/revocation.md).
const revokePath = "/_presign/revoke"

// Revoke records the revocations at the storage node, and at every node of
// Config.RevokeEndpoints: nodes sharing Redis need the call once, nodes keeping their own state
// each need it. The call is signed with the bucket's credentials (the node's own key) and its
// body is signed too. It fails if any node did not record them; repeating it is safe.
func (b *Bucket) Revoke(ctx context.Context, rs []control.Revocation) error {
	type wire struct {
		ID     string     `json:"id,omitempty"`
		User   string     `json:"user,omitempty"`
		Before *time.Time `json:"before,omitempty"`
		Until  time.Time  `json:"until"`
	}
	body := struct {
		Revocations []wire `json:"revocations"`
	}{}
	for _, r := range rs {
		w := wire{ID: r.ID, User: r.User, Until: r.Until.UTC()}
		if !r.Before.IsZero() {
			before := r.Before.UTC()
			w.Before = &before
		}
		body.Revocations = append(body.Revocations, w)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var errs []error
	for _, ep := range append([]string{b.endpoint}, b.revokeEndpoints...) {
		if err := b.revokeAt(ctx, ep, data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
		}
	}
	return errors.Join(errs...)
}

func (b *Bucket) revokeAt(ctx context.Context, endpoint string, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+revokePath, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(data)
	if _, err := b.signer.SignRequest(req, hex.EncodeToString(sum[:]), time.Now()); err != nil {
		return err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("revocation answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
