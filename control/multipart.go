package control

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"presign/control/appevents"
	"presign/sigv4"
)

// maxPartsPerRequest bounds the part URLs one SignParts call returns.
const maxPartsPerRequest = 1000

// partPlan splits size into parts of at least minPart bytes, whole MiB, at most MaxParts of them.
func partPlan(size, minPart int64) (partSize int64, count int) {
	partSize = minPart
	if need := (size + MaxParts - 1) / MaxParts; need > partSize {
		partSize = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return partSize, int((size + partSize - 1) / partSize)
}

// partLength is the size of part n (1-based) of the upload's plan: partSize, the last one less.
func partLength(u *Upload, n int) int64 {
	if n < u.PartCount {
		return u.PartSize
	}
	return u.Size - int64(u.PartCount-1)*u.PartSize
}

// startMultipart creates the multipart upload in the object store and moves the upload from
// pending to uploading. If the store refuses, the upload fails (and frees its quota).
func (s *Service) startMultipart(ctx context.Context, u *Upload) error {
	mid, err := s.objects.CreateMultipart(ctx, u.Key, u.ContentType)
	if err != nil {
		if _, terr := s.transition(ctx, u.ID, []UploadState{StatePending}, StateFailed,
			Change{At: s.now(), FailReason: "the object store did not start the multipart upload", Reason: appevents.ReasonRefused}); terr != nil {
			s.log.ErrorContext(ctx, "failing an upload whose multipart start failed", "upload", u.ID, "err", terr)
		}
		return err
	}
	nu, err := s.transition(ctx, u.ID, []UploadState{StatePending}, StateUploading, Change{At: s.now(), MultipartID: mid})
	if err != nil {
		if aerr := s.objects.AbortMultipart(context.WithoutCancel(ctx), u.Key, mid); aerr != nil {
			s.log.WarnContext(ctx, "aborting an orphaned multipart upload", "upload", u.ID, "err", aerr)
		}
		return fmt.Errorf("record multipart upload: %w", err)
	}
	*u = *nu
	return nil
}

// PartURLs are presigned PUTs for parts of a multipart upload.
type PartURLs struct {
	Expires time.Time `json:"expires_at"`
	Parts   []PartURL `json:"parts"`
}

// PartURL is the presigned PUT of one part. The client sends exactly Size bytes with Headers,
// and keeps the ETag the store answers with, for CompleteUpload.
type PartURL struct {
	Number int    `json:"part_number"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
	Method string `json:"method"`
	// Headers are signed with the URL (a Content-Length when the store knows no extensions).
	Headers map[string]string `json:"headers,omitempty"`
}

// SignParts signs PUT URLs for parts of the caller's multipart upload, just in time: each URL
// lives until the upload's deadline, which moves a policy's TTL ahead whenever less than half
// of it is left, so a long upload that keeps asking for parts never meets an expired URL nor
// the reconciler.
// Each URL caps its body at the part's planned size.
//
// crc32c, when given, holds the base64 CRC-32C of each part, in the order of numbers. On a
// presign storage node each is signed into its URL as x-amz-checksum-crc32c (a header the
// client must then send), so the node refuses other bytes — a check far cheaper for the client
// than Content-MD5. On other stores the checksums are not signed and the URLs come without the
// header: the client falls back to Content-MD5.
//
// A multipart upload in the client's own parts (Upload.ClientChunked) takes any part numbers
// 1..10,000; part n's URL is capped at what the upload's maximum leaves after n-1 parts of at
// least 5 MiB (partCap), and at S3's 5 GiB, and refused (413) when nothing is left.
func (s *Service) SignParts(ctx context.Context, p *Principal, id string, numbers []int, crc32c []string, addr string) (*PartURLs, error) {
	u, err := s.ownUpload(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.signParts(ctx, p, u, numbers, crc32c, false, addr)
}

// signParts is SignParts of the caller's upload u; urlOnly when the client sends no header
// with a part (PartSigning.URLOnly).
func (s *Service) signParts(ctx context.Context, p *Principal, u *Upload, numbers []int, crc32c []string, urlOnly bool, addr string) (*PartURLs, error) {
	id := u.ID
	if u.PartCount == 0 && !u.ClientChunked() {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s is a single PUT, not a multipart upload", id)
	}
	if u.State != StateUploading {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s is %s; parts are signed while it is uploading", id, u.State)
	}
	if len(numbers) == 0 || len(numbers) > maxPartsPerRequest {
		return nil, invalid("part_numbers must list 1 to %d parts", maxPartsPerRequest)
	}
	last := u.PartCount
	if u.ClientChunked() {
		last = MaxParts
	}
	for _, n := range numbers {
		if n < 1 || n > last {
			return nil, invalid("part number %d is outside 1..%d of this upload", n, last)
		}
		if u.ClientChunked() && partCap(u.MaxSize, n) < 1 {
			return nil, s.refuse("max_object_bytes", errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
				"part %d would take the upload past its maximum of %d bytes (every part before it holds at least %d bytes)", n, u.MaxSize, int64(MinPartSize)))
		}
	}
	if len(crc32c) > 0 && len(crc32c) != len(numbers) {
		return nil, invalid("checksums_crc32c must have one checksum per part number")
	}
	for _, c := range crc32c {
		if b, err := base64.StdEncoding.DecodeString(c); err != nil || len(b) != 4 {
			return nil, invalid("checksums_crc32c must be base64 CRC-32C values (4 bytes)")
		}
	}
	pol, err := s.effectivePolicy(ctx, p.User)
	if err != nil {
		return nil, err
	}
	ext, err := s.extensions(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ttl := pol.urlTTL()
	// URLs never outlive the upload's deadline, so that the reconciler never ends an upload
	// whose URL still works. While at least half a TTL is left before it, the URLs are signed
	// up to it and nothing is written; past that the deadline moves a whole TTL ahead (one
	// write per upload every half TTL, not one per part).
	deadline := now.Add(ttl)
	if left := u.Expires.Sub(now); left >= ttl/2 && left <= ttl {
		ttl = left.Truncate(time.Second)
		deadline = now.Add(ttl)
	} else if deadline.After(u.Expires) {
		if _, err := s.transition(ctx, u.ID, []UploadState{StateUploading}, StateUploading,
			Change{At: now, Expires: deadline}); err != nil {
			if errors.Is(err, ErrStateConflict) {
				return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s changed state meanwhile", id)
			}
			return nil, fmt.Errorf("extend upload deadline: %w", err)
		}
	}
	if err := s.audit(ctx, AuditEntry{At: now, UserID: p.User.ID, Action: "parts.sign", UploadID: u.ID, Key: u.Key,
		RemoteAddr: addr, Details: map[string]string{"parts": joinInts(numbers), "expires": deadline.UTC().Format(time.RFC3339)}}); err != nil {
		return nil, err
	}
	out := &PartURLs{Expires: deadline.UTC().Truncate(time.Microsecond), Parts: make([]PartURL, 0, len(numbers))}
	signer := s.urlSigner()
	for i, n := range numbers {
		size := partLength(u, n)
		if signer != nil {
			ps := PartSigning{Key: u.Key, MultipartID: u.MultipartID, Number: n, Size: size, URLOnly: urlOnly, Now: now, TTL: ttl}
			if u.ClientChunked() {
				ps.Size, ps.Capped = partCap(u.MaxSize, n), true
			}
			r, err := signer.SignPart(ps)
			if err != nil {
				return nil, fmt.Errorf("sign part %d: %w", n, err)
			}
			out.Parts = append(out.Parts, PartURL{Number: n, URL: r.URL, Size: ps.Size, Method: r.Method, Headers: r.Headers})
			continue
		}
		q := url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {u.MultipartID}}
		var headers map[string]string
		if u.ClientChunked() {
			// A part of unknown size: capped where the store can cap it, otherwise checked at
			// completion (a signed Content-Length would fix its size).
			size = partCap(u.MaxSize, n)
			if ext {
				headers = partBinding(q, size, ext)
			}
		} else {
			headers = partBinding(q, size, ext)
		}
		revocable(q, u.ID, u.UserID, ext)
		if ext && len(crc32c) > 0 {
			headers = map[string]string{sigv4.ChecksumHeader(sigv4.ChecksumCRC32C): crc32c[i]}
		}
		signed, err := s.presign(http.MethodPut, u.Key, q, headers, now, ttl)
		if err != nil {
			return nil, err
		}
		out.Parts = append(out.Parts, PartURL{Number: n, URL: signed, Size: size, Method: http.MethodPut, Headers: headers})
	}
	s.metrics.partURLs.Add(float64(len(numbers)))
	return out, nil
}

func joinInts(ns []int) string {
	var b strings.Builder
	for i, n := range ns {
		if i > 0 {
			b.WriteByte(',')
		}
		if b.Len() > 200 {
			b.WriteString("...")
			break
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// assembleParts returns the parts to complete the upload with: those the client listed, checked
// against the plan, or, when it listed none, those the store holds.
func (s *Service) assembleParts(ctx context.Context, u *Upload, given []Part) ([]Part, error) {
	if u.ClientChunked() {
		return s.assembleChunked(ctx, u, given)
	}
	parts := given
	if len(parts) == 0 || !s.partETags() {
		var err error
		if parts, err = s.objects.ListParts(ctx, u.Key, u.MultipartID); err != nil {
			return nil, err
		}
	}
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b Part) int { return a.Number - b.Number })
	if len(parts) != u.PartCount {
		return nil, errorf(http.StatusConflict, CodeNotUploaded, "the plan has %d parts and %d are given or stored", u.PartCount, len(parts))
	}
	for i, pt := range parts {
		if pt.Number != i+1 || pt.ETag == "" {
			return nil, invalid("parts must be numbered 1..%d once each, each with its etag", u.PartCount)
		}
	}
	return parts, nil
}

// StoredParts returns the parts the object store already holds for the caller's multipart
// upload, in part-number order, each with its ETag and size. A client resuming an interrupted
// upload sends only the parts missing here: the store lists a part only once it was received
// whole and checked.
func (s *Service) StoredParts(ctx context.Context, p *Principal, id string) ([]Part, error) {
	u, err := s.ownUpload(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.storedParts(ctx, u)
}

// storedParts is StoredParts of the caller's upload u.
func (s *Service) storedParts(ctx context.Context, u *Upload) ([]Part, error) {
	id := u.ID
	if u.PartCount == 0 && !u.ClientChunked() {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s is a single PUT, not a multipart upload", id)
	}
	if u.State != StateUploading {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s is %s; parts are listed while it is uploading", id, u.State)
	}
	parts, err := s.objects.ListParts(ctx, u.Key, u.MultipartID)
	if errors.Is(err, ErrNoMultipart) {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s: the store no longer knows its parts", id)
	}
	if err != nil {
		return nil, err
	}
	if parts == nil {
		parts = []Part{}
	}
	return parts, nil
}

// assembleChunked checks the parts the client lists for an upload in its own parts against
// those the store holds: numbered in increasing order within 1..10,000, each stored with that
// ETag, every one but the last at least 5 MiB, together 1..MaxSize bytes. Without a list, the
// store's parts are taken. A total above the maximum fails the upload (its parts are removed)
// and answers 413: the token, policy and quota were reserved for no more.
func (s *Service) assembleChunked(ctx context.Context, u *Upload, given []Part) ([]Part, error) {
	stored, err := s.objects.ListParts(ctx, u.Key, u.MultipartID)
	if err != nil {
		return nil, err
	}
	parts := given
	if len(parts) == 0 || !s.partETags() {
		parts = stored
	}
	if len(parts) == 0 {
		return nil, errorf(http.StatusConflict, CodeNotUploaded, "upload %s: no part has arrived in storage yet", u.ID)
	}
	byNumber := make(map[int]Part, len(stored))
	for _, pt := range stored {
		byNumber[pt.Number] = pt
	}
	var total int64
	out := make([]Part, len(parts))
	for i, pt := range parts {
		if pt.Number < 1 || pt.Number > MaxParts || (i > 0 && pt.Number <= parts[i-1].Number) || pt.ETag == "" {
			return nil, invalid("parts must be listed in increasing order of part number (1..%d), each with its etag", MaxParts)
		}
		have, ok := byNumber[pt.Number]
		if !ok || strings.Trim(have.ETag, `"`) != strings.Trim(pt.ETag, `"`) {
			return nil, errorf(http.StatusConflict, CodeNotUploaded, "upload %s: storage holds no part %d with etag %s; upload it again", u.ID, pt.Number, pt.ETag)
		}
		if i < len(parts)-1 && have.Size < MinPartSize {
			return nil, invalid("part %d holds %d bytes: every part but the last needs at least %d", pt.Number, have.Size, int64(MinPartSize))
		}
		total += have.Size
		out[i] = have
	}
	if total > u.MaxSize {
		if _, err := s.transition(ctx, u.ID, []UploadState{StateUploading}, StateFailed,
			Change{At: s.now(), FailReason: fmt.Sprintf("the parts hold %d bytes, more than the %d allowed", total, u.MaxSize),
				Audit: &AuditEntry{UserID: u.UserID, Action: "upload.fail", UploadID: u.ID, Key: u.Key,
					Details: map[string]string{"source": sourceClient, "reason": "too large"}}}); err != nil && !errors.Is(err, ErrStateConflict) {
			return nil, fmt.Errorf("fail upload: %w", err)
		}
		s.discard(ctx, u)
		s.metrics.completions.WithLabelValues(sourceClient, string(StateFailed)).Inc()
		return nil, s.refuse("max_object_bytes", errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"upload %s failed: its parts hold %d bytes, more than the %d it may hold (the token's, your policy's and the quota's reservation)", u.ID, total, u.MaxSize))
	}
	return out, nil
}

// partETags reports whether the store answers part uploads with ETags a client can list; when
// it does not, completion takes the parts the store holds.
func (s *Service) partETags() bool {
	p := s.urlSigner()
	return p == nil || p.PartETags()
}
