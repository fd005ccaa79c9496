package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// state is what a multipart upload keeps on disk so a later Upload of the same content can
// resume it. The parts are not kept: the store is asked which it holds.
type state struct {
	Server   string    `json:"server"`
	UploadID string    `json:"upload_id"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Plan     plan      `json:"plan"`
	Created  time.Time `json:"created_at"`
}

// statePath is the state file of the upload's content on this server, or "" when the upload
// keeps no state.
func (u *upload) statePath() string {
	if u.o.StateDir == "" || u.o.ResumeKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(u.c.base.String() + "\x00" + u.o.ResumeKey))
	return filepath.Join(u.o.StateDir, hex.EncodeToString(sum[:20])+".json")
}

func (u *upload) loadState() *state {
	path := u.statePath()
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var s state
	if json.Unmarshal(b, &s) != nil || s.Server != u.c.base.String() || s.Size != u.size || s.UploadID == "" {
		return nil
	}
	return &s
}

// saveState records the upload as resumable, in a file only the user may read.
func (u *upload) saveState() error {
	path := u.statePath()
	if path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(state{Server: u.c.base.String(), UploadID: u.id, Name: u.name, Size: u.size,
		Plan: u.plan, Created: time.Now().UTC()}, "", "  ")
	if err := os.MkdirAll(u.o.StateDir, 0o700); err != nil {
		return fmt.Errorf("resume state: %w", err)
	}
	tmp := path + "." + rand.Text()[:8] + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("resume state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("resume state: %w", err)
	}
	return nil
}

func (u *upload) dropState() {
	if path := u.statePath(); path != "" {
		os.Remove(path)
	}
}

// resume continues an interrupted multipart upload of the same content, when there is one.
// done is false when a new upload must start: no state, or an upload that ended meanwhile
// (its state is dropped). An upload found completed returns its file.
func (u *upload) resume(ctx context.Context) (f *File, done bool, err error) {
	st := u.loadState()
	if st == nil {
		return nil, false, nil
	}
	info, err := u.c.UploadStatus(ctx, st.UploadID)
	switch {
	case IsNotFound(err):
		u.dropState()
		return nil, false, nil
	case err != nil:
		// Unknown (no network, not logged in): starting a second upload would waste the
		// first one's parts.
		return nil, true, err
	}
	u.id = info.ID
	switch {
	case info.State == "completed":
		f, err := u.c.File(ctx, info.ID)
		if err == nil {
			u.dropState()
		}
		return f, true, err
	case info.State != "uploading" || !info.Multipart || info.Size != u.size ||
		info.PartSize != st.Plan.PartSize || info.PartCount != st.Plan.PartCount:
		u.dropState()
		return nil, false, nil
	}
	if info.SHA256 != "" {
		// The upload declared the SHA-256 of the content it began with. The store checks a
		// multipart upload's parts, not that, so content that changed since would complete
		// with a wrong record: start over instead.
		sum, err := u.contentSHA256()
		if err != nil {
			return nil, true, err
		}
		if !strings.EqualFold(sum, info.SHA256) {
			u.c.abortQuietly(ctx, info.ID)
			u.dropState()
			return nil, false, nil
		}
	}
	parts, err := u.c.StoredParts(ctx, info.ID)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			u.dropState()
			return nil, false, nil
		}
		return nil, true, err
	}
	stored := make(map[int]Part, len(parts))
	for _, p := range parts {
		stored[p.Number] = p
	}
	u.plan = st.Plan
	u.started(Start{UploadID: info.ID, Multipart: true, PartCount: info.PartCount, Resumed: true, StoredParts: len(parts)})
	f, err = u.multipart(ctx, stored)
	return f, true, err
}
