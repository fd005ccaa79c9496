package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"presign/extension"
	"presign/internal/clientlimit"
	"presign/sigv4"
)

// Revocation withdraws URLs before they expire: those of one ticket (ID), or those of one user
// (User), signed before a time (Before).
type Revocation struct {
	// ID, when set, revokes the URLs with X-Presign-Id=ID whose X-Amz-Date is before Before,
	// or every one of them when Before is zero. A cut-off lets the issuer sign new URLs for
	// the same ticket after revoking the old ones (a file's downloads after its share links
	// were withdrawn).
	ID string `json:"id,omitempty"`
	// User, when set, revokes every URL with X-Presign-User=User whose X-Amz-Date is before
	// Before (required). Exactly one of ID and User is set.
	User   string    `json:"user,omitempty"`
	Before time.Time `json:"before,omitzero"`
	// Until is when the revocation may be forgotten: the latest expiry of the URLs it
	// withdraws. A store keeps it at least until then.
	Until time.Time `json:"until"`
}

// maxRevocationTerm bounds Until: no presigned URL lives longer than SigV4's seven days.
const maxRevocationTerm = 7 * 24 * time.Hour

// Check reports a revocation that names neither or both of a ticket and a user, an id or user
// that is empty or too long, or an Until that is missing or more than seven days ahead.
func (r Revocation) Check(now time.Time) error {
	switch {
	case (r.ID == "") == (r.User == ""):
		return errors.New("a revocation names either an id or a user")
	case len(r.ID) > 256 || len(r.User) > 256:
		return errors.New("id and user are at most 256 bytes")
	case r.User != "" && r.Before.IsZero():
		return errors.New("a user revocation needs the time before which URLs are revoked")
	case r.Until.IsZero():
		return errors.New("a revocation needs an until time")
	case r.Until.After(now.Add(maxRevocationTerm + time.Hour)):
		return errors.New("until is more than seven days ahead, longer than any presigned URL lives")
	}
	return nil
}

// RevocationStore keeps revocations until their Until time. Implementations must be safe for
// concurrent use; a store shared by several nodes (Redis) makes a revocation recorded through
// one node refuse URLs at every node within a second.
type RevocationStore interface {
	// Revoke records r durably. Revoking a ticket or a user's URLs twice keeps the later
	// Before (a ticket revocation without Before, which withdraws all, counts as the latest)
	// and the later Until.
	Revoke(ctx context.Context, r Revocation) error
	// Revoked reports whether a URL carrying ticket id and user (either may be empty) and
	// signed at signedAt is revoked.
	Revoked(ctx context.Context, id, user string, signedAt time.Time) (bool, error)
}

// errRevoked answers a URL withdrawn before its expiry.
var errRevoked = &APIError{"AccessDenied", http.StatusForbidden, "Request has been revoked: the URL was withdrawn by its issuer before it expired.", nil}

// checkRevoked refuses a request whose signed X-Presign-Id or X-Presign-User was revoked. A
// node without a RevocationStore does not refuse such URLs: it cannot know of revocations.
func (s *Server) checkRevoked(ctx context.Context, req *request) error {
	if s.cfg.Revocations == nil {
		return nil
	}
	id, _ := req.auth.Query(extension.ID)
	user, _ := req.auth.Query(extension.User)
	if id == "" && user == "" {
		return nil
	}
	revoked, err := s.cfg.Revocations.Revoked(ctx, id, user, req.auth.Date)
	if err != nil {
		// Fail closed: the URL may have been revoked.
		return fmt.Errorf("check revocation: %w: %w", ErrUnavailable, err)
	}
	if revoked {
		return errRevoked
	}
	return nil
}

// revokeRequest is the body of POST /_presign/revoke.
type revokeRequest struct {
	Revocations []Revocation `json:"revocations"`
}

// maxRevokeBody bounds the body of a revoke call (about a thousand revocations).
const maxRevokeBody = 256 << 10

// RevokeHandler serves the node's revocation call (POST, JSON body, see docs/revocation.md),
// to be mounted at /_presign/revoke. The call must be signed with SigV4 header authentication
// by one of the node's credentials, with the body's SHA-256 as x-amz-content-sha256.
func (s *Server) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &request{id: s.newRequestID()}
		w.Header().Set("X-Amz-Request-Id", req.id)
		if r.Body != nil && r.Body != http.NoBody {
			// A revocation is a small JSON body: it arrives within SmallBodyTimeout or not at all.
			rb := r.WithContext(r.Context())
			rb.Body = clientlimit.NewBody(w, r.Body, clientlimit.BodyLimits{Total: s.cfg.SmallBodyTimeout})
			r = rb
		}
		if err := s.revoke(r, req); err != nil {
			s.writeError(w, r, req, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}\n"))
	})
}

func (s *Server) revoke(r *http.Request, req *request) error {
	if r.Method != http.MethodPost {
		return errMethodNotAllowed
	}
	a, err := s.verifier.Verify(r, s.now())
	if err != nil {
		return err
	}
	if a.Mode != sigv4.HeaderAuth || len(a.PayloadHash) != 64 {
		return apiErr("AccessDenied", http.StatusForbidden, "A revocation must be signed in its headers, payload included.")
	}
	if s.cfg.Revocations == nil {
		return apiErr("NotImplemented", http.StatusNotImplemented, "This node keeps no revocations.")
	}
	payload, err := sigv4.NewPayloadReader(a, r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(payload, maxRevokeBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxRevokeBody {
		return apiErr("EntityTooLarge", http.StatusBadRequest, "At most %d bytes of revocations per call.", maxRevokeBody)
	}
	var rr revokeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rr); err != nil {
		return apiErr("MalformedJSON", http.StatusBadRequest, "The revocation body is not valid: %v", err)
	}
	now := s.now()
	for i, rv := range rr.Revocations {
		if err := rv.Check(now); err != nil {
			return apiErr("InvalidArgument", http.StatusBadRequest, "Revocation %d: %v.", i, err)
		}
	}
	// Nothing is recorded when one is invalid; recording them one by one, a failure midway
	// leaves the earlier ones recorded, and the caller retries the whole call.
	for _, rv := range rr.Revocations {
		if err := s.cfg.Revocations.Revoke(r.Context(), rv); err != nil {
			return fmt.Errorf("record revocation: %w: %w", ErrUnavailable, err)
		}
		s.log.Info("URLs revoked", "request_id", req.id, "id", rv.ID, "user", rv.User, "before", rv.Before, "until", rv.Until)
	}
	return nil
}
