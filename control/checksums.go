package control

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"presign/sigv4"
)

// The checksums a ticket may declare beside sha256, by their API names. Which one a store can
// check depends on the store and on how the file goes up (ChecksumCheck); a ticket declaring
// one its store cannot check is refused rather than passed unchecked.
const (
	ChecksumMD5    = "md5"
	ChecksumCRC32C = "crc32c"
)

// UploadKind is how an upload goes: one PUT, a browser form, or parts.
type UploadKind string

// The upload kinds.
const (
	UploadPut       UploadKind = "put"
	UploadForm      UploadKind = "form"
	UploadMultipart UploadKind = "multipart"
)

// ChecksumCheck says where a store checks a declared checksum of one kind of upload.
type ChecksumCheck struct {
	// Before: the ticket's headers (or form fields) carry the checksum and the store refuses
	// other bytes before it keeps them.
	Before bool
	// Reported: Head reports the checksum of such an object (ObjectInfo), and completion
	// fails an upload whose object reports another, or none.
	Reported bool
}

// Checked reports whether the checksum is checked at all.
func (c ChecksumCheck) Checked() bool { return c.Before || c.Reported }

// s3ChecksumCheck is ChecksumCheck for S3, which the Service signs itself. A single upload
// carries a signed Content-MD5 and x-amz-checksum-crc32c (a form: the same fields, covered by
// the policy), which the store checks before it keeps the bytes; HEAD with checksum mode
// reports the CRC32C it kept. It reports no MD5: the ETag is one only for some objects (not
// under SSE-KMS or SSE-C, not for parts), so the signed Content-MD5 is the check. An object
// assembled from parts has neither for the whole file.
func s3ChecksumCheck(kind UploadKind, checksum string) ChecksumCheck {
	if kind == UploadMultipart {
		return ChecksumCheck{}
	}
	return ChecksumCheck{Before: true, Reported: checksum == ChecksumCRC32C}
}

// checksumCheck is where the Service's store checks the checksum for the kind of upload.
func (s *Service) checksumCheck(kind UploadKind, checksum string) ChecksumCheck {
	if p := s.urlSigner(); p != nil {
		return p.ChecksumCheck(kind, checksum)
	}
	return s3ChecksumCheck(kind, checksum)
}

func (s *Service) providerName() string {
	if p := s.urlSigner(); p != nil {
		return p.Provider()
	}
	return "s3"
}

// declaredChecksums returns the checksums u declares, by name, in hex.
func declaredChecksums(u *Upload) map[string]string {
	out := map[string]string{}
	if u.MD5 != "" {
		out[ChecksumMD5] = u.MD5
	}
	if u.CRC32C != "" {
		out[ChecksumCRC32C] = u.CRC32C
	}
	return out
}

// checkChecksums refuses, before anything is recorded, a ticket declaring a checksum its store
// cannot check for this kind of upload (501, naming what works), and on S3 a single upload
// declaring both sha256 and crc32c: an S3 request carries one x-amz-checksum header.
func (s *Service) checkChecksums(kind UploadKind, u *Upload) error {
	for _, name := range []string{ChecksumMD5, ChecksumCRC32C} {
		if declaredChecksums(u)[name] == "" || s.checksumCheck(kind, name).Checked() {
			continue
		}
		var works []string
		for _, other := range []string{ChecksumMD5, ChecksumCRC32C} {
			if other != name && s.checksumCheck(kind, other).Checked() {
				works = append(works, other)
			}
		}
		what := map[UploadKind]string{UploadPut: "a single upload", UploadForm: "a form upload", UploadMultipart: "an upload in parts"}[kind]
		hint := "declare no " + name
		switch {
		case len(works) > 0:
			hint = "declare " + strings.Join(works, " or ") + " instead"
		case kind == UploadMultipart && s.checksumCheck(UploadPut, name).Checked():
			hint = fmt.Sprintf("upload the file in one request (below %d bytes, without multipart) to have its %s checked, or declare none", s.cfg.MultipartThreshold, name)
		}
		return s.refuse("checksum", errorf(http.StatusNotImplemented, CodeNotSupported,
			"the object store (%s) cannot check the %s of %s: %s", s.providerName(), name, what, hint))
	}
	if s.urlSigner() == nil && kind != UploadMultipart && u.SHA256 != "" && u.CRC32C != "" {
		return invalid("declare sha256 or crc32c, not both: an upload to S3 carries one x-amz-checksum header")
	}
	return nil
}

// checksumMismatch compares the checksums u declares with those the store reports of its object;
// it returns why they differ, or "". A declared checksum the store does not report fails the
// upload where the store should report it (it was not checked), and passes where the store
// checked it before keeping the bytes. A form's object is reported as a PUT's.
func (s *Service) checksumMismatch(u *Upload, info ObjectInfo) string {
	kind := UploadPut
	if u.MultipartID != "" || u.PartCount > 0 {
		kind = UploadMultipart
	}
	reported := map[string]string{ChecksumMD5: info.MD5, ChecksumCRC32C: info.CRC32C}
	for _, name := range []string{ChecksumMD5, ChecksumCRC32C} {
		declared := declaredChecksums(u)[name]
		got := strings.ToLower(reported[name])
		switch {
		case declared == "":
		case got != "" && got != declared:
			return fmt.Sprintf("checksum: stored %s %s, declared %s", name, got, declared)
		case got == "" && s.checksumCheck(kind, name).Reported:
			return fmt.Sprintf("checksum: the store reports no %s of the object, declared %s", name, declared)
		}
	}
	return ""
}

// decodeChecksum accepts a checksum of n bytes in hex (2n digits) or standard base64.
func decodeChecksum(field, v string, n int, what string) ([]byte, error) {
	if len(v) == 2*n {
		if b, err := hex.DecodeString(v); err == nil {
			return b, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == n {
		return b, nil
	}
	return nil, invalid("%s must be the file's %s in hex (%d digits) or base64 (%d characters)", field, what, 2*n, base64.StdEncoding.EncodedLen(n))
}

// checkDeclaredChecksums reads the request's sha256, md5 and crc32c onto u, in hex.
func checkDeclaredChecksums(req TicketRequest, u *Upload) error {
	for _, c := range []struct {
		field, value string
		n            int
		what         string
		to           *string
	}{
		{"sha256", req.SHA256, 32, "SHA-256", &u.SHA256},
		{ChecksumMD5, req.MD5, 16, "MD5", &u.MD5},
		{ChecksumCRC32C, req.CRC32C, 4, "CRC32C (Castagnoli, big-endian)", &u.CRC32C},
	} {
		if c.value == "" {
			continue
		}
		b, err := decodeChecksum(c.field, c.value, c.n, c.what)
		if err != nil {
			return err
		}
		*c.to = hex.EncodeToString(b)
	}
	return nil
}

// uploadSigning is what a provider signs for the single upload (a PUT or a form) of u.
func uploadSigning(u *Upload, now time.Time, ttl time.Duration) UploadSigning {
	md5, crc := checksumsBase64(u)
	return UploadSigning{Key: u.Key, ContentType: u.ContentType, Size: u.Size, MaxSize: u.MaxSize, MD5: md5, CRC32C: crc, Now: now, TTL: ttl}
}

// addS3Checksums adds u's declared checksums to the headers of an S3 PUT, or the fields of
// its form, where the signature (or the policy) covers them.
func addS3Checksums(h map[string]string, u *Upload) {
	for name, v := range map[string]string{
		sigv4.ChecksumHeader(sigv4.ChecksumSHA256): u.SHA256,
		"Content-MD5": u.MD5,
		sigv4.ChecksumHeader(sigv4.ChecksumCRC32C): u.CRC32C,
	} {
		if v != "" {
			h[name] = hexToBase64(v)
		}
	}
}

// checksumsBase64 are u's declared MD5 and CRC32C in base64, as headers and form fields carry
// them.
func checksumsBase64(u *Upload) (md5, crc32c string) {
	return hexToBase64(u.MD5), hexToBase64(u.CRC32C)
}

// hexToBase64 re-encodes a checksum kept in hex as headers carry it; "" stays "".
func hexToBase64(h string) string {
	if h == "" {
		return ""
	}
	b, _ := hex.DecodeString(h)
	return base64.StdEncoding.EncodeToString(b)
}
