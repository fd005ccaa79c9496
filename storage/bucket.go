package storage

import (
	"encoding/xml"
	"io"
	"net/http"
	"time"
)

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// owner is the single owner every bucket and object of this node has: the node's credentials.
type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

var nodeOwner = owner{ID: "presign", DisplayName: "presign"}

// writeXML sends a 200 with an XML document.
func writeXML(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return nil
	}
	// The status is sent; an encoding failure can only be a broken connection.
	_ = xml.NewEncoder(w).Encode(v)
	return nil
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request, req *request) error {
	bs, err := s.cfg.Backend.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	type bucket struct {
		Name         string
		CreationDate string
	}
	out := struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		NS      string   `xml:"xmlns,attr"`
		Owner   owner
		Buckets []bucket `xml:"Buckets>Bucket"`
	}{NS: s3NS, Owner: nodeOwner}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, bucket{b.Name, isoTime(b.Created)})
	}
	return writeXML(w, out)
}

func (s *Server) getBucketLocation(w http.ResponseWriter, r *http.Request, req *request) error {
	if _, err := s.cfg.Backend.HeadBucket(r.Context(), req.bucket); err != nil {
		return err
	}
	loc := s.cfg.Region
	if loc == "us-east-1" {
		loc = "" // S3 reports the original region as an empty constraint
	}
	return writeXML(w, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		NS      string   `xml:"xmlns,attr"`
		Value   string   `xml:",chardata"`
	}{NS: s3NS, Value: loc})
}

func (s *Server) headBucket(w http.ResponseWriter, r *http.Request, req *request) error {
	if _, err := s.cfg.Backend.HeadBucket(r.Context(), req.bucket); err != nil {
		return err
	}
	w.Header().Set("X-Amz-Bucket-Region", s.cfg.Region)
	w.WriteHeader(http.StatusOK)
	return nil
}

// maxSmallXML bounds the XML bodies the node reads (bucket configuration, delete lists).
const maxSmallXML = 2 << 20

func (s *Server) createBucket(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := checkACLHeaders(r.Header); err != nil {
		return err
	}
	// An optional CreateBucketConfiguration may name a region; it must be ours.
	body, err := s.readDocument(w, r, req)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		var conf struct {
			LocationConstraint string
		}
		if err := xml.Unmarshal(body, &conf); err != nil {
			return errMalformedXML
		}
		if c := conf.LocationConstraint; c != "" && c != s.cfg.Region {
			return apiErr("IllegalLocationConstraintException", http.StatusBadRequest,
				"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", c)
		}
	}
	if err := s.cfg.Backend.CreateBucket(r.Context(), req.bucket); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+req.bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request, req *request) error {
	err := s.cfg.Backend.DeleteBucket(r.Context(), req.bucket)
	// A bucket made again with the name starts without its rules and policy.
	s.cors.forget(req.bucket)
	s.policies.forget(req.bucket)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readDocument reads a request body that the node must hold whole (an XML document), checked
// against the request's signature and digests like an upload, up to maxSmallXML bytes.
func (s *Server) readDocument(w http.ResponseWriter, r *http.Request, req *request) ([]byte, error) {
	body, err := s.openBody(r, req, maxSmallXML)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(body)
}
