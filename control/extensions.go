package control

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"presign/extension"
)

// Extensions says which rules the object store enforces on a presigned upload URL beyond the
// signature, and so how the service binds an upload to its ticket.
//
// With ExtensionsOn (presign's storage node, also as a gateway over another S3 service) a
// single PUT carries X-Presign-Max-Bytes (the body may not exceed the declared size) and
// X-Presign-Once (the URL works once); part URLs carry X-Presign-Max-Bytes.
//
// With ExtensionsOff (any other S3 service: AWS S3, SeaweedFS, Ceph RGW, MinIO, which ignore
// or refuse unknown parameters) the URLs carry only what S3 itself checks: a signed
// Content-Length, so the body is exactly the declared size, and on a single PUT a signed
// If-None-Match: *, so the URL cannot replace an object that is there. Forms are the same
// in both (a POST policy with content-length-range). In both, completion checks the object
// with HEAD and fails and deletes one that does not match its ticket.
//
// ExtensionsAuto asks the store on first need (an upload ticket, or /readyz), through an
// Objects that implements PresignNodeProber; until it has an answer no ticket is issued.
type Extensions int

// The values of Extensions.
const (
	ExtensionsOn Extensions = iota
	ExtensionsOff
	ExtensionsAuto
)

// String is the value as the command line writes it.
func (e Extensions) String() string {
	switch e {
	case ExtensionsOn:
		return "on"
	case ExtensionsOff:
		return "off"
	case ExtensionsAuto:
		return "auto"
	}
	return "Extensions(" + strconv.Itoa(int(e)) + ")"
}

// ParseExtensions reads "on", "off" or "auto".
func ParseExtensions(s string) (Extensions, error) {
	for _, e := range []Extensions{ExtensionsOn, ExtensionsOff, ExtensionsAuto} {
		if s == e.String() {
			return e, nil
		}
	}
	return 0, fmt.Errorf("%q: want on, off or auto", s)
}

// extUnknown is Service.ext while ExtensionsAuto has not had its answer.
const extUnknown = -1

// PresignNodeProber is an Objects that can tell whether the object store is presign's own
// storage node, which enforces the extensions.
type PresignNodeProber interface {
	// IsPresignNode reports whether the store is a presign storage node. A store that
	// answers but is something else is (false, nil); an error means no answer.
	IsPresignNode(ctx context.Context) (bool, error)
}

// extensions reports whether the URLs the service signs may rely on the extensions, asking
// the store the first time under ExtensionsAuto. An Objects that cannot be asked gets plain S3.
func (s *Service) extensions(ctx context.Context) (bool, error) {
	switch v := s.ext.Load(); v {
	case int32(ExtensionsOn):
		return true, nil
	case int32(ExtensionsOff):
		return false, nil
	}
	on := false
	if p, ok := s.objects.(PresignNodeProber); ok {
		var err error
		if on, err = p.IsPresignNode(ctx); err != nil {
			return false, &StorageError{Op: "identify the object store", Err: err}
		}
	}
	v := ExtensionsOff
	if on {
		v = ExtensionsOn
	}
	if s.ext.CompareAndSwap(extUnknown, int32(v)) {
		s.log.InfoContext(ctx, "object store identified", "presign_node", on, "extensions", v.String())
	}
	return on, nil
}

// putBinding is the signed query and headers that bind a single PUT to its upload.
func putBinding(u *Upload, ext bool) (url.Values, map[string]string) {
	h := map[string]string{"Content-Type": u.ContentType}
	if ext {
		return url.Values{extension.MaxBytes: {strconv.FormatInt(u.Size, 10)}, extension.Once: {u.Nonce}}, h
	}
	h["Content-Length"] = strconv.FormatInt(u.Size, 10)
	h["If-None-Match"] = "*"
	return url.Values{}, h
}

// partBinding is the signed query and headers that cap a part URL at its planned size.
func partBinding(q url.Values, size int64, ext bool) map[string]string {
	if ext {
		q.Set(extension.MaxBytes, strconv.FormatInt(size, 10))
		return nil
	}
	return map[string]string{"Content-Length": strconv.FormatInt(size, 10)}
}
