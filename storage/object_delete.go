package storage

import (
	"encoding/xml"
	"errors"
	"net/http"

	"presign/events"
	"presign/sigv4"
)

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := checkVersionID(req.query); err != nil {
		return err
	}
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	if err := s.roomForRemoval(); err != nil {
		return err
	}
	info, err := s.cfg.Backend.DeleteObject(r.Context(), req.bucket, req.key)
	switch {
	case errors.Is(err, ErrNoSuchKey):
	case err != nil:
		return err
	default:
		req.nonce = ""
		if err := s.emit(r.Context(), r, req, events.ObjectRemovedDelete, req.key, info); err != nil {
			return err
		}
	}
	// S3 answers 204 whether or not there was an object.
	if namesVersion(req.query) {
		w.Header().Set("X-Amz-Version-Id", nullVersion)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxDeleteKeys is S3's limit on one DeleteObjects request.
const maxDeleteKeys = 1000

func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, req *request) error {
	if r.Header.Get("Content-MD5") == "" && !hasChecksumHeader(r.Header) {
		return errMissingContentHash
	}
	// The body's digest is checked like any upload's, so a corrupted key list deletes nothing.
	body, err := s.readDocument(w, r, req)
	if err != nil {
		return err
	}
	var in struct {
		Quiet   bool
		Objects []struct {
			Key       string
			VersionID *string `xml:"VersionId"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(body, &in); err != nil {
		return errMalformedXML
	}
	if len(in.Objects) > maxDeleteKeys {
		return errTooManyDeleteKeys
	}
	if len(in.Objects) == 0 {
		return errMalformedXML
	}
	type deleted struct {
		Key       string
		VersionID string `xml:"VersionId,omitempty"`
	}
	type failed struct {
		Key       string
		VersionID string `xml:"VersionId,omitempty"`
		Code      string
		Message   string
	}
	out := struct {
		XMLName xml.Name  `xml:"DeleteResult"`
		NS      string    `xml:"xmlns,attr"`
		Deleted []deleted `xml:"Deleted"`
		Errors  []failed  `xml:"Error"`
	}{NS: s3NS}
	for _, o := range in.Objects {
		version := ""
		err := checkKey(o.Key)
		if o.VersionID != nil {
			// Each object's one version is "null"; any other does not exist.
			version = *o.VersionID
			if err == nil && version != nullVersion {
				err = errNoSuchVersion
			}
		}
		if err == nil {
			err = s.roomForRemoval()
		}
		if err == nil {
			var info ObjectInfo
			info, err = s.cfg.Backend.DeleteObject(r.Context(), req.bucket, o.Key)
			switch {
			case errors.Is(err, ErrNoSuchKey):
				err = nil
			case err == nil:
				err = s.emit(r.Context(), r, req, events.ObjectRemovedDelete, o.Key, info)
			}
		}
		if err != nil {
			e, ok := toAPIError(err)
			if !ok {
				s.log.ErrorContext(r.Context(), "delete failed", "request_id", req.id, "err", err)
			}
			out.Errors = append(out.Errors, failed{o.Key, version, e.Code, e.Message})
			continue
		}
		if !in.Quiet {
			out.Deleted = append(out.Deleted, deleted{o.Key, version})
		}
	}
	return writeXML(w, out)
}

func hasChecksumHeader(h http.Header) bool {
	for name := range h {
		if _, ok := sigv4.ChecksumFromHeader(name); ok {
			return true
		}
	}
	return false
}
