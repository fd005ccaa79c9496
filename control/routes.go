package control

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"presign/internal/clientlimit"
	"presign/internal/metricsauth"
	"presign/sigv4"
)

// routes lists every operation of the API.
func (s *Service) routes(metricsHandler http.Handler) []route {
	return append(s.apiRoutes(metricsHandler), s.companionRoutes()...)
}

// apiRoutes lists the operations of the JSON API.
func (s *Service) apiRoutes(metricsHandler http.Handler) []route {
	return []route{
		{"POST", "/v1/login", public, s.handleLogin},
		{"POST", "/v1/logout", user, s.handleLogout},
		{"GET", "/v1/me", user, s.handleMe},
		{"POST", "/v1/apikeys", user, s.handleCreateAPIKey},
		{"GET", "/v1/apikeys", user, s.handleListAPIKeys},
		{"DELETE", "/v1/apikeys/{id}", user, s.handleRevokeAPIKey},
		{"POST", "/v1/upload-tokens", user, s.handleMintUploadToken},
		{"GET", "/v1/upload-tokens", user, s.handleListUploadTokens},
		{"DELETE", "/v1/upload-tokens/{id}", user, s.handleRevokeUploadToken},
		{"POST", "/v1/uploads", uploader, s.handleIssueTicket},
		{"GET", "/v1/uploads/{id}", uploader, s.handleGetUpload},
		{"DELETE", "/v1/uploads/{id}", uploader, s.handleAbortUpload},
		{"POST", "/v1/uploads/{id}/parts", uploader, s.handleSignParts},
		{"GET", "/v1/uploads/{id}/parts", uploader, s.handleStoredParts},
		{"POST", "/v1/uploads/{id}/complete", uploader, s.handleComplete},
		{"POST", "/v1/uploads/{id}/revoke", user, s.handleRevokeUpload},
		{"GET", "/v1/files", user, s.handleListFiles},
		{"GET", "/v1/files/{id}", user, s.handleGetFile},
		{"GET", "/v1/files/{id}/download", user, s.handleDownload},
		{"DELETE", "/v1/files/{id}", user, s.handleDeleteFile},
		{"POST", "/v1/storage-events", public, s.handleStorageEvents},
		{"POST", "/v1/webhooks", user, s.handleCreateWebhook},
		{"GET", "/v1/webhooks", user, s.handleListWebhooks},
		{"GET", "/v1/webhooks/{id}", user, s.handleGetWebhook},
		{"DELETE", "/v1/webhooks/{id}", user, s.handleDeleteWebhook},
		{"GET", "/v1/webhooks/{id}/deliveries", user, s.handleDeliveries},
		{"POST", "/v1/webhooks/{id}/deliveries/{delivery}/redeliver", user, s.handleRedeliver},
		{"POST", "/v1/users", admin, s.handleCreateUser},
		{"GET", "/v1/users", admin, s.handleListUsers},
		{"PATCH", "/v1/users/{id}", admin, s.handleUpdateUser},
		{"POST", "/v1/users/{id}/revoke-urls", user, s.handleRevokeUserURLs},
		{"GET", "/v1/policy", admin, s.handleGetPolicy},
		{"PUT", "/v1/policy", admin, s.handleSetPolicy},
		{"GET", "/v1/audit", admin, s.handleAudit},
		{"GET", "/healthz", public, handleHealthz},
		{"GET", "/readyz", public, s.handleReadyz},
		{"GET", "/metrics", public, s.metricsRoute(metricsHandler)},
		{"GET", "/openapi.json", public, handleOpenAPI},
	}
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &in, false); err != nil {
		return err
	}
	sess, err := s.Login(r.Context(), in.Username, in.Password, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sess)
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.Logout(r.Context(), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleMe(w http.ResponseWriter, r *http.Request, p *Principal) error {
	me, err := s.Whoami(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, me)
}

func (s *Service) handleCreateAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Name             string `json:"name"`
		Password         string `json:"password"`
		ExpiresInSeconds int64  `json:"expires_in_seconds,omitempty"`
	}
	if err := decode(r, &in, false); err != nil {
		return err
	}
	if in.ExpiresInSeconds < 0 || in.ExpiresInSeconds > int64(MaxAPIKeyTTL/time.Second) {
		return invalid("expires_in_seconds must be 60 to %d", int64(MaxAPIKeyTTL/time.Second))
	}
	k, err := s.CreateAPIKey(r.Context(), p, in.Name, in.Password, time.Duration(in.ExpiresInSeconds)*time.Second, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, k)
}

func (s *Service) handleListAPIKeys(w http.ResponseWriter, r *http.Request, p *Principal) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	l, err := s.ListAPIKeys(r.Context(), p, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

func (s *Service) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.RevokeAPIKey(r.Context(), p, r.PathValue("id"), s.clientAddr(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleIssueTicket(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in TicketRequest
	if err := decode(r, &in, false); err != nil {
		return err
	}
	t, err := s.IssueTicket(r.Context(), p, in, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func (s *Service) handleGetUpload(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wait, waiting, err := uploadWait(r)
	if err != nil {
		return err
	}
	var u *UploadView
	if waiting {
		u, err = s.WaitUpload(r.Context(), p, r.PathValue("id"), wait)
	} else {
		u, err = s.Upload(r.Context(), p, r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Service) handleAbortUpload(w http.ResponseWriter, r *http.Request, p *Principal) error {
	u, err := s.AbortUpload(r.Context(), p, r.PathValue("id"), s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Service) handleSignParts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		PartNumbers []int    `json:"part_numbers"`
		CRC32C      []string `json:"checksums_crc32c"`
	}
	if err := decode(r, &in, false); err != nil {
		return err
	}
	parts, err := s.SignParts(r.Context(), p, r.PathValue("id"), in.PartNumbers, in.CRC32C, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, parts)
}

func (s *Service) handleStoredParts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	parts, err := s.StoredParts(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Parts []Part `json:"parts"`
	}{parts})
}

func (s *Service) handleComplete(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Parts []Part `json:"parts"`
	}
	if err := decode(r, &in, true); err != nil {
		return err
	}
	f, err := s.CompleteUpload(r.Context(), p, r.PathValue("id"), in.Parts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

func (s *Service) handleListFiles(w http.ResponseWriter, r *http.Request, p *Principal) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	l, err := s.ListFiles(r.Context(), p, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

func (s *Service) handleGetFile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	f, err := s.File(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

// handleDownload redirects to the presigned GET, or returns it as JSON when the client asks
// for JSON (a script that wants the URL rather than the bytes, or a browser's fetch).
// ?ttl_seconds= asks for a shorter-lived URL than the policy's, e.g. for a share link.
func (s *Service) handleDownload(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var ttl time.Duration
	if v := r.URL.Query().Get("ttl_seconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > int64(sigv4.MaxExpires/time.Second) {
			return invalid("ttl_seconds must be 1 to %d", int64(sigv4.MaxExpires/time.Second))
		}
		ttl = time.Duration(n) * time.Second
	}
	d, err := s.ShareURL(r.Context(), p, r.PathValue("id"), ttl, s.clientAddr(r))
	if err != nil {
		return err
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		return writeJSON(w, http.StatusOK, d)
	}
	http.Redirect(w, r, d.URL, http.StatusFound)
	return nil
}

func (s *Service) handleDeleteFile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteFile(r.Context(), p, r.PathValue("id"), s.clientAddr(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleStorageEvents(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxEventBody))
	if errors.Is(err, clientlimit.ErrTimeout) || errors.Is(err, clientlimit.ErrAborted) {
		return fmt.Errorf("read delivery: %w", err)
	}
	if err != nil {
		return invalid("delivery body unreadable or larger than %d bytes", maxEventBody)
	}
	res, err := s.HandleEvents(r.Context(), r.Header, body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Service) handleCreateUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in NewUser
	if err := decode(r, &in, false); err != nil {
		return err
	}
	u, err := s.CreateUser(r.Context(), p, in, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (s *Service) handleListUsers(w http.ResponseWriter, r *http.Request, p *Principal) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	us, err := s.ListUsers(r.Context(), p, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Users []UserView `json:"users"`
	}{us})
}

func (s *Service) handleUpdateUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in UserChange
	if err := decode(r, &in, false); err != nil {
		return err
	}
	u, err := s.UpdateUser(r.Context(), p, r.PathValue("id"), in, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Service) handleGetPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if !p.User.Admin {
		return errForbidden
	}
	pol, err := s.DefaultPolicy(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pol)
}

func (s *Service) handleSetPolicy(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in Policy
	if err := decode(r, &in, false); err != nil {
		return err
	}
	if err := s.SetDefaultPolicy(r.Context(), p, in, s.clientAddr(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, in)
}

func (s *Service) handleAudit(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := AuditQuery{UserID: r.URL.Query().Get("user_id"), Limit: 100}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			return invalid("limit must be 1 to %d", MaxPage)
		}
		q.Limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return invalid("before must be an entry id")
		}
		q.Before = n
	}
	es, err := s.AuditLog(r.Context(), p, q)
	if err != nil {
		return err
	}
	type entry struct {
		ID         int64             `json:"id"`
		At         time.Time         `json:"at"`
		UserID     string            `json:"user_id,omitempty"`
		Action     string            `json:"action"`
		UploadID   string            `json:"upload_id,omitempty"`
		Key        string            `json:"key,omitempty"`
		RemoteAddr string            `json:"remote_addr,omitempty"`
		Details    map[string]string `json:"details,omitempty"`
	}
	out := make([]entry, len(es))
	for i, e := range es {
		out[i] = entry(e)
	}
	return writeJSON(w, http.StatusOK, struct {
		Entries []entry `json:"entries"`
	}{out})
}

func handleHealthz(w http.ResponseWriter, _ *http.Request, _ *Principal) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, "ok\n")
	return err
}

// handleReadyz answers 200 when the store and the object store answer, 503 naming the one that
// does not.
func (s *Service) handleReadyz(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	if err := s.Ready(r.Context()); err != nil {
		return errorf(http.StatusServiceUnavailable, CodeNotReady, "%v", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, "ready\n")
	return err
}

// metricsRoute serves h to the requests metricsauth admits (Config.MetricsToken).
func (s *Service) metricsRoute(h http.Handler) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		if h == nil {
			return notFoundErr("metrics endpoint")
		}
		if no := metricsauth.Check(r, s.cfg.MetricsToken); no != nil {
			code := CodeForbidden
			if no.Status == http.StatusUnauthorized {
				code = CodeUnauthenticated
			}
			return errorf(no.Status, code, "%s", no.Message)
		}
		h.ServeHTTP(w, r)
		return nil
	}
}

func (s *Service) handleRevokeUpload(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := s.RevokeUpload(r.Context(), p, r.PathValue("id"), s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Service) handleRevokeUserURLs(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := s.RevokeUserURLs(r.Context(), p, r.PathValue("id"), s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
