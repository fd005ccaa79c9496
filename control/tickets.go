package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"presign/extension"
	"presign/sigv4"
)

// TicketRequest asks for an upload ticket.
type TicketRequest struct {
	Filename string `json:"filename"`
	// Size is the file's exact size. A client that does not know it gives MaxSize instead.
	Size *int64 `json:"size,omitempty"`
	// MaxSize is the most the file may hold, when its size is not declared: the object may have
	// 1..MaxSize bytes, checked at completion, and the upload holds MaxSize of the quota until
	// it ends. It needs Form or Multipart (or a presign storage node, for a PUT).
	MaxSize     *int64 `json:"max_size,omitempty"`
	ContentType string `json:"content_type"`
	// SHA256 of the whole file, hex or base64; optional. When given, a single PUT must carry
	// it (x-amz-checksum-sha256 is signed) and the storage node rejects other bytes.
	SHA256 string `json:"sha256,omitempty"`
	// MD5 of the whole file, hex or base64; optional. The store checks it where it can
	// (ChecksumCheck): a single upload carries it as Content-MD5, and completion compares the
	// MD5 the store reports. A ticket whose store cannot check it is refused.
	MD5 string `json:"md5,omitempty"`
	// CRC32C of the whole file (Castagnoli, big-endian, as GCS and S3 write it), hex or
	// base64; optional, checked as MD5 is.
	CRC32C string `json:"crc32c,omitempty"`
	// Form asks for a POST-policy form (browsers) instead of a PUT URL, whatever the size up
	// to S3's 5 GiB.
	Form bool `json:"form,omitempty"`
	// Multipart asks for a multipart upload whatever the size: with Size, in the parts of a
	// plan; with MaxSize, in the client's own parts.
	Multipart bool `json:"multipart,omitempty"`
	// Metadata is the application's own, kept on the upload and its file, returned by the API
	// and carried in the application events; within CheckMetadata's limits.
	Metadata map[string]string `json:"metadata,omitempty"`
	// route is the API the request came through, for the audit log ("" for /v1/uploads).
	route string
}

// routeCompanion marks the tickets of the Companion-compatible routes.
const routeCompanion = "companion"

// Ticket is what a client needs to upload: one presigned PUT (Method, URL, Headers), a form
// (URL, Fields), or a multipart plan whose part URLs come from SignParts.
type Ticket struct {
	ID        string            `json:"id"`
	Key       string            `json:"key"`
	State     UploadState       `json:"state"`
	Expires   time.Time         `json:"expires_at"`
	Method    string            `json:"method"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	Multipart bool              `json:"multipart"`
	PartSize  int64             `json:"part_size,omitempty"`
	PartCount int               `json:"part_count,omitempty"`
	// MaxSize is the most the object may hold when its size was not declared.
	MaxSize int64 `json:"max_size,omitempty"`
}

// IssueTicket checks the request against the caller's policy (and upload token), records a
// pending upload (what it holds counts against the quota from now on) and the audit entry, both
// durably, and only then signs the URL.
func (s *Service) IssueTicket(ctx context.Context, p *Principal, req TicketRequest, addr string) (*Ticket, error) {
	now := s.now()
	u, err := s.checkTicket(req)
	if err != nil {
		return nil, err
	}
	pol, err := s.effectivePolicy(ctx, p.User)
	if err != nil {
		return nil, err
	}
	if err := s.checkAgainstPolicy(u, pol); err != nil {
		return nil, err
	}
	var tok *UploadLimits
	if p.UploadToken != nil {
		tok = &p.UploadToken.Limits
		if err := s.checkAgainstToken(u, tok); err != nil {
			return nil, err
		}
	}
	kind, err := s.ticketKind(req, u)
	if err != nil {
		return nil, err
	}
	if err := s.checkChecksums(kind, u); err != nil {
		return nil, err
	}
	if u.Size < 0 {
		limit := unknownSizeMax(kind == UploadMultipart, pol, tok)
		u.Size, u.MaxSize = 0, limit
		if req.MaxSize != nil {
			if *req.MaxSize > limit {
				return nil, s.refuse("max_object_bytes", errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
					"max_size %d is above the %d bytes this upload may hold (the smallest of the route's, your policy's and the upload token's limits)", *req.MaxSize, limit))
			}
			u.MaxSize = *req.MaxSize
		}
	}
	// Before anything is counted or recorded: without the answer no URL can be signed.
	ext, err := s.extensions(ctx)
	if err != nil {
		return nil, err
	}
	if kind == UploadPut && u.MaxSize > 0 && !ext {
		if p := s.urlSigner(); p == nil || !p.CapsUploadSize() {
			return nil, invalid("this object store cannot cap a PUT of unknown size: ask for a form or a multipart upload with max_size")
		}
	}
	rateKey := p.User.ID
	if p.UploadToken != nil {
		rateKey = "token:" + p.UploadToken.ID
	}
	if err := s.checkTicketRate(ctx, rateKey, now); err != nil {
		return nil, err
	}
	ttl := pol.urlTTL()
	u.ID = newID(now)
	u.UserID = p.User.ID
	prefix := ""
	if p.UploadToken != nil {
		u.TokenID, u.Subject, prefix = p.UploadToken.ID, p.UploadToken.Subject, p.UploadToken.Limits.KeyPrefix
	}
	u.Key = objectKey(p.User.ID, prefix, u.ID, u.Filename)
	u.State = StatePending
	u.Created, u.Expires = now, now.Add(ttl)
	if kind == UploadMultipart && u.MaxSize == 0 {
		u.PartSize, u.PartCount = partPlan(u.Size, s.cfg.PartSize)
	} else if kind != UploadMultipart && ext {
		u.Nonce = newNonce() // a PUT URL or a form: single-use either way
	}
	lim := pol.limits()
	if tok != nil {
		lim.TokenFiles, lim.TokenBytes = tok.MaxFiles, tok.MaxTotalBytes
	}
	if err := s.store.CreateUpload(ctx, u, lim); err != nil {
		return nil, s.createRefusal(err, pol, tok, u)
	}
	details := map[string]string{"kind": string(kind), "size": strconv.FormatInt(u.Size, 10), "expires": u.Expires.UTC().Format(time.RFC3339)}
	if u.MaxSize > 0 {
		details["max_size"] = strconv.FormatInt(u.MaxSize, 10)
	}
	if p.UploadToken != nil {
		details["token_id"], details["subject"] = p.UploadToken.ID, p.UploadToken.Subject
	}
	if req.route != "" {
		details["route"] = req.route
	}
	if err := s.audit(ctx, AuditEntry{At: now, UserID: p.User.ID, Action: "ticket.issue", UploadID: u.ID, Key: u.Key,
		RemoteAddr: addr, Details: details}); err != nil {
		return nil, err
	}
	t := &Ticket{ID: u.ID, Key: u.Key, State: u.State, Expires: u.Expires.UTC().Truncate(time.Microsecond), MaxSize: u.MaxSize}
	switch kind {
	case UploadMultipart:
		if err := s.startMultipart(ctx, u); err != nil {
			return nil, err
		}
		t.State, t.Method, t.Multipart, t.PartSize, t.PartCount = StateUploading, http.MethodPut, true, u.PartSize, u.PartCount
	case UploadForm:
		t.Method = http.MethodPost
		t.URL, t.Fields, err = s.signForm(u, ext, now, ttl)
	default:
		t.Method = http.MethodPut
		t.URL, t.Headers, err = s.signPut(u, ext, now, ttl)
	}
	if err != nil {
		return nil, err
	}
	s.metrics.tickets.WithLabelValues(string(kind)).Inc()
	return t, nil
}

// ticketKind is how the upload goes: the route the client chose (a form, or multipart), or,
// for a declared size, multipart from the threshold on and one PUT below it.
func (s *Service) ticketKind(req TicketRequest, u *Upload) (UploadKind, error) {
	switch {
	case req.Form && req.Multipart:
		return "", invalid("form and multipart exclude each other")
	case req.Form && !s.takesForms():
		return "", s.refuse("form", notOnProvider(s.urlSigner(),
			"takes no POST form uploads: ask for a PUT (without form) or a multipart upload"))
	case req.Form:
		if u.Size > MaxSinglePutSize {
			return "", s.refuse("form", invalid("a form upload holds at most %d bytes; larger files upload in parts (multipart)", int64(MaxSinglePutSize)))
		}
		return UploadForm, nil
	case req.Multipart:
		return UploadMultipart, nil
	case u.Size >= 0 && u.Size >= s.cfg.MultipartThreshold:
		return UploadMultipart, nil
	}
	return UploadPut, nil
}

// checkTicket validates the request on its own and returns the upload it describes (without
// ids and times), its declared checksums in hex.
func (s *Service) checkTicket(req TicketRequest) (*Upload, error) {
	name, err := cleanFilename(req.Filename)
	if err != nil {
		return nil, err
	}
	size := int64(-1) // not declared
	switch {
	case req.Size != nil && req.MaxSize != nil:
		return nil, invalid("give size (the exact size) or max_size (a maximum), not both")
	case req.Size != nil && *req.Size < 0:
		return nil, invalid("size must be the file's exact size in bytes")
	case req.Size != nil:
		size = *req.Size
	case req.MaxSize != nil && *req.MaxSize < 1:
		return nil, invalid("max_size must be at least 1 byte")
	case req.MaxSize == nil && req.route == "":
		return nil, invalid("size is required: the file's exact size in bytes (or max_size, a maximum, with form or multipart)")
	}
	if size > MaxObjectSize {
		return nil, s.refuse("max_object_bytes", errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"size %d exceeds the largest object the store can hold, %d bytes", size, int64(MaxObjectSize)))
	}
	ct := strings.TrimSpace(req.ContentType)
	if ct == "" {
		ct = "application/octet-stream"
	}
	if _, err := parseContentType(ct); err != nil {
		return nil, err
	}
	if p := metadataProblem(req.Metadata); p != "" {
		return nil, invalid("%s", p)
	}
	// Size -1 until IssueTicket settles the maximum of an undeclared size.
	u := &Upload{Filename: name, ContentType: ct, Size: size, Metadata: req.Metadata}
	if err := checkDeclaredChecksums(req, u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkAgainstPolicy applies the size and type rules of the policy (an undeclared size is
// bounded by the policy when its maximum is set).
func (s *Service) checkAgainstPolicy(u *Upload, pol Policy) error {
	if pol.MaxObjectBytes > 0 && u.Size > pol.MaxObjectBytes {
		return s.refuse("max_object_bytes", errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"size %d exceeds max_object_bytes %d of your policy", u.Size, pol.MaxObjectBytes))
	}
	mt, _ := parseContentType(u.ContentType)
	if !typeAllowed(mt, pol.AllowedContentTypes) {
		return s.refuse("allowed_content_types", errorf(http.StatusUnsupportedMediaType, CodeTypeNotAllowed,
			"content type %s is not in allowed_content_types %v of your policy", mt, pol.AllowedContentTypes))
	}
	return nil
}

// checkAgainstToken applies the size and type limits of an upload token.
func (s *Service) checkAgainstToken(u *Upload, tok *UploadLimits) error {
	if tok.MaxFileBytes > 0 && u.Size > tok.MaxFileBytes {
		return s.refuse("token", errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"size %d exceeds max_file_bytes %d of the upload token", u.Size, tok.MaxFileBytes))
	}
	mt, _ := parseContentType(u.ContentType)
	if !typeAllowed(mt, tok.AllowedContentTypes) {
		return s.refuse("token", errorf(http.StatusUnsupportedMediaType, CodeTypeNotAllowed,
			"content type %s is not in allowed_content_types %v of the upload token", mt, tok.AllowedContentTypes))
	}
	return nil
}

// checkTicketRate counts the ticket in the caller's one-minute window: the user's, or for an
// upload token the token's own (one browser must not spend its application's whole rate). The
// counter is in the store, so the limit holds across replicas.
func (s *Service) checkTicketRate(ctx context.Context, who string, now time.Time) error {
	if s.cfg.TicketsPerMinute < 0 {
		return nil
	}
	n, err := s.store.Hit(ctx, "tickets:"+who, time.Minute, now)
	if err != nil {
		return fmt.Errorf("ticket rate: %w", err)
	}
	if n > s.cfg.TicketsPerMinute {
		e := errorf(http.StatusTooManyRequests, CodeRateLimited,
			"ticket rate limit: at most %d tickets a minute per user", s.cfg.TicketsPerMinute)
		e.RetryAfter = windowLeft(now, time.Minute)
		return s.refuse("rate", e)
	}
	return nil
}

// createRefusal turns the store's limit errors into the API's.
func (s *Service) createRefusal(err error, pol Policy, tok *UploadLimits, u *Upload) error {
	held := fmt.Sprintf("size %d", u.Size)
	if u.MaxSize > 0 {
		held = fmt.Sprintf("an upload of undeclared size holds its maximum, %d bytes, until it ends; it", u.MaxSize)
	}
	switch {
	case errors.Is(err, ErrTooManyPending):
		return s.refuse("max_pending_uploads", errorf(http.StatusConflict, CodeTooManyPending,
			"max_pending_uploads %d of your policy reached: complete or abort an upload first", pol.MaxPendingUploads))
	case errors.Is(err, ErrQuotaExceeded):
		return s.refuse("quota_bytes", errorf(http.StatusForbidden, CodeQuotaExceeded,
			"%s would exceed quota_bytes %d of your policy (pending uploads count at what they hold)", held, pol.QuotaBytes))
	case errors.Is(err, ErrTokenExhausted) && tok != nil:
		return s.refuse("token", errorf(http.StatusForbidden, CodeTokenExhausted,
			"the upload token's limits are reached (max_files %d, max_total_bytes %d; %s)", tok.MaxFiles, tok.MaxTotalBytes, held))
	}
	return fmt.Errorf("record upload: %w", err)
}

// refuse counts a policy refusal by the rule that made it and returns e.
func (s *Service) refuse(rule string, e *Error) *Error {
	s.metrics.refusals.WithLabelValues(rule).Inc()
	return e
}

// signPut returns the presigned PUT of a single-request upload and the headers the client must
// send with it: the declared Content-Type and checksum are signed, and so is what holds the body
// to the declared size and the URL to one object (see Extensions).
func (s *Service) signPut(u *Upload, ext bool, now time.Time, ttl time.Duration) (string, map[string]string, error) {
	if p := s.urlSigner(); p != nil {
		r, err := p.SignUpload(uploadSigning(u, now, ttl))
		if err != nil {
			return "", nil, fmt.Errorf("sign upload: %w", err)
		}
		return r.URL, r.Headers, nil
	}
	q, headers := putBinding(u, ext)
	revocable(q, u.ID, u.UserID, ext)
	addS3Checksums(headers, u)
	signed, err := s.presign(http.MethodPut, u.Key, q, headers, now, ttl)
	return signed, headers, err
}

// signForm returns the POST-policy form of an upload: the key, type and checksum are fixed by
// the policy, content-length-range pins the size, and the x-presign-once field (signed, as the
// policy covers every field) makes the form single-use on a presign storage node; other
// stores do not get the field (see Extensions).
func (s *Service) signForm(u *Upload, ext bool, now time.Time, ttl time.Duration) (string, map[string]string, error) {
	if f, ok := s.urlSigner().(FormSigner); ok {
		url, fields, err := f.SignForm(uploadSigning(u, now, ttl))
		if err != nil {
			return "", nil, fmt.Errorf("sign form: %w", err)
		}
		return url, fields, nil
	}
	fields := map[string]string{"key": u.Key, "Content-Type": u.ContentType, "success_action_status": "201"}
	if ext {
		fields[extension.OnceField] = u.Nonce
	}
	addS3Checksums(fields, u)
	conds := []sigv4.PolicyCondition{{Op: sigv4.OpContentLengthRange, Min: u.Size, Max: u.Size}}
	if u.MaxSize > 0 {
		conds[0].Min, conds[0].Max = 1, u.MaxSize
	}
	out, err := s.signer.SignPost(fields, conds, now.Add(ttl), now)
	if err != nil {
		return "", nil, fmt.Errorf("sign form: %w", err)
	}
	form := s.objectURL("")
	return form.String(), out, nil
}

// presign signs method on the object key with the query parameters and headers.
func (s *Service) presign(method, key string, q url.Values, headers map[string]string, now time.Time, ttl time.Duration) (string, error) {
	u := s.objectURL(key)
	u.RawQuery = q.Encode()
	h := make(http.Header, len(headers))
	for k, v := range headers {
		h.Set(k, v)
	}
	signed, err := s.signer.Presign(method, &u, h, now, ttl)
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", method, err)
	}
	return signed.String(), nil
}

// objectURL is the URL of the object key ("": the bucket) as clients reach it: the bucket in
// the path, or in the host name with VirtualHostStyle.
func (s *Service) objectURL(key string) url.URL {
	u := *s.base
	if s.cfg.VirtualHostStyle {
		u.Host = s.cfg.Bucket + "." + u.Host
		u.Path = "/" + key
	} else {
		u.Path = "/" + s.cfg.Bucket
		if key != "" {
			u.Path += "/" + key
		}
	}
	return u
}

// objectKey is where an upload's object lives: in its owner's namespace, under the upload
// token's key prefix (checked by checkKeyPrefix: safe segments, each ending in '/'), under its
// own id, with a name that needs no escaping anywhere.
func objectKey(userID, prefix, uploadID, filename string) string {
	return "u/" + userID + "/" + prefix + uploadID + "/" + safeName(filename)
}

// safeName reduces a client's file name to [A-Za-z0-9._-], at most 100 bytes, keeping its
// extension: no path separators, no "..", no leading dot, nothing that percent-encoding or a
// filesystem could read two ways. The original name is kept in the upload record for
// Content-Disposition.
func safeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	lastUnderscore := false
	for _, r := range name {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
		if !ok {
			r = '_'
		}
		if r == '_' && lastUnderscore {
			continue
		}
		lastUnderscore = r == '_'
		b.WriteRune(r)
	}
	out := strings.TrimLeft(b.String(), "._")
	if len(out) > 100 {
		ext := ""
		if i := strings.LastIndexByte(out, '.'); i >= 0 && len(out)-i <= 16 {
			ext = out[i:]
		}
		out = out[:100-len(ext)] + ext
	}
	// After the cut, which may end in a dot beside the extension's own.
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", ".")
	}
	if out == "" || out == "." {
		return "file"
	}
	return out
}

func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
