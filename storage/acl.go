package storage

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// Access control lists. The node has one owner, its credentials, and every bucket and object
// is private to it: the ACL reads answer that (the owner with FULL_CONTROL), and an ACL write
// is accepted when it asks for no more, as a tool that copies ACLs (s3cmd cp and mv) or sets
// "private" expects. A grant to anyone else would widen access the node does not give, so it
// is refused rather than ignored; anonymous reads are a bucket policy's job (bucket_policy.go).
// S3's buckets with "bucket owner enforced" ownership, the default of new buckets, behave the
// same way, with "private" allowed besides.

// xsiNS is the XML Schema instance namespace of a grantee's type.
const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

// cannedACLs are the canned ACLs that keep an object or bucket private to the owner: with one
// owner, the bucket owner is the object owner.
var cannedACLs = map[string]bool{"private": true, "bucket-owner-full-control": true, "bucket-owner-read": true}

// grantHeaders grant permissions to others; any of them widens access.
var grantHeaders = []string{"X-Amz-Grant-Read", "X-Amz-Grant-Write", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write-Acp", "X-Amz-Grant-Full-Control"}

func errACLWidens(what string) *APIError {
	return apiErr("AccessControlListNotSupported", http.StatusBadRequest,
		"This node keeps every bucket and object private to its owner, so %s, which would widen access, is refused. Anonymous reads of a prefix are given by a bucket policy (mc anonymous set download).", what)
}

// checkACLHeaders refuses a request whose x-amz-acl or x-amz-grant-* headers (or, for a POST
// form, acl field) would give access to anyone but the owner. It is the one check of every
// operation that can set an ACL: PutObject, CopyObject, CreateMultipartUpload, CreateBucket,
// POST Object and the ACL writes themselves.
func checkACLHeaders(h http.Header) error {
	if v, ok := h["X-Amz-Acl"]; ok {
		if len(v) != 1 || !cannedACLs[strings.TrimSpace(v[0])] {
			return errACLWidens("the canned ACL " + strings.Join(v, ","))
		}
	}
	for _, name := range grantHeaders {
		if _, ok := h[name]; ok {
			return errACLWidens("the header " + name)
		}
	}
	return nil
}

// accessControlPolicy is the ACL document as S3 writes it.
type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	NS      string   `xml:"xmlns,attr"`
	Owner   owner
	Grants  []aclGrant `xml:"AccessControlList>Grant"`
}

type aclGrant struct {
	Grantee    aclGrantee
	Permission string
}

type aclGrantee struct {
	XSI         string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// ownerACL is the one ACL of every bucket and object.
func ownerACL() accessControlPolicy {
	return accessControlPolicy{NS: s3NS, Owner: nodeOwner, Grants: []aclGrant{{
		Grantee:    aclGrantee{XSI: xsiNS, Type: "CanonicalUser", ID: nodeOwner.ID, DisplayName: nodeOwner.DisplayName},
		Permission: "FULL_CONTROL",
	}}}
}

// aclDocument is an ACL document as a client sends it; the grantee's type is a namespaced
// attribute.
type aclDocument struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Owner   *struct {
		ID string `xml:"ID"`
	} `xml:"Owner"`
	Grants []struct {
		Grantee struct {
			Type  string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			ID    string `xml:"ID"`
			URI   string `xml:"URI"`
			Email string `xml:"EmailAddress"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// checkACLDocument accepts an ACL document that grants FULL_CONTROL to the owner and nothing
// else: the ACL every bucket and object already has.
func checkACLDocument(body []byte) error {
	var doc aclDocument
	if err := xml.Unmarshal(body, &doc); err != nil {
		return errMalformedACL
	}
	if doc.Owner != nil && doc.Owner.ID != nodeOwner.ID {
		return errACLWidens("an ACL naming another owner (" + doc.Owner.ID + ")")
	}
	if len(doc.Grants) == 0 {
		return apiErr("NotImplemented", http.StatusNotImplemented, "An ACL without grants would lock the owner out; this node keeps the owner's FULL_CONTROL.")
	}
	for _, g := range doc.Grants {
		who := g.Grantee.ID
		if who == "" {
			who = g.Grantee.URI + g.Grantee.Email
		}
		if g.Grantee.Type != "CanonicalUser" || g.Grantee.ID != nodeOwner.ID || g.Permission != "FULL_CONTROL" {
			return errACLWidens("a grant of " + g.Permission + " to " + who)
		}
	}
	return nil
}

var errMalformedACL = &APIError{"MalformedACLError", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.", nil}

// getACL answers GetBucketAcl and GetObjectAcl after checking that the target exists.
func (s *Server) getACL(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := s.aclTargetExists(r, req); err != nil {
		return err
	}
	return writeXML(w, ownerACL())
}

// putACL answers PutBucketAcl and PutObjectAcl: a canned ACL in x-amz-acl or a document in the
// body, either of which must keep the target private.
func (s *Server) putACL(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := checkACLHeaders(r.Header); err != nil {
		return err
	}
	body, err := s.readDocument(w, r, req)
	if err != nil {
		return err
	}
	_, canned := r.Header["X-Amz-Acl"]
	switch {
	case len(body) > 0 && canned:
		return apiErr("UnexpectedContent", http.StatusBadRequest, "This request does not support content when x-amz-acl is set.")
	case len(body) > 0:
		if err := checkACLDocument(body); err != nil {
			return err
		}
	case !canned:
		return apiErr("MissingSecurityHeader", http.StatusBadRequest, "Your request was missing a required header or body: x-amz-acl or an AccessControlPolicy.")
	}
	if err := s.aclTargetExists(r, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) aclTargetExists(r *http.Request, req *request) error {
	if req.key == "" {
		_, err := s.cfg.Backend.HeadBucket(r.Context(), req.bucket)
		return err
	}
	if err := checkVersionID(req.query); err != nil {
		return err
	}
	_, err := s.cfg.Backend.HeadObject(r.Context(), req.bucket, req.key)
	return err
}
