package storage

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// The bucket policy operations, and the anonymous requests a policy lets in.

var errAccessDenied = &APIError{"AccessDenied", http.StatusForbidden, "Access Denied", nil}

var errNoPolicyStore = apiErr("NotImplemented", http.StatusNotImplemented, "This storage backend keeps no bucket policies.")

func (s *Server) policyStore() (BucketPolicyStore, error) {
	ps, ok := s.cfg.Backend.(BucketPolicyStore)
	if !ok {
		return nil, errNoPolicyStore
	}
	return ps, nil
}

// privateBucket reports a bucket that never takes a policy (the control plane's).
func (s *Server) privateBucket(bucket string) bool {
	return slices.Contains(s.cfg.PrivateBuckets, bucket)
}

func (s *Server) putBucketPolicy(w http.ResponseWriter, r *http.Request, req *request) error {
	ps, err := s.policyStore()
	if err != nil {
		return err
	}
	body, err := s.readDocument(w, r, req)
	if err != nil {
		return err
	}
	if s.privateBucket(req.bucket) {
		return apiErr("AccessDenied", http.StatusForbidden, "Bucket %s holds files that are private to presign's users; it takes no bucket policy.", req.bucket)
	}
	if _, err := parseBucketPolicy(req.bucket, body); err != nil {
		return err
	}
	err = ps.PutBucketPolicy(r.Context(), req.bucket, body)
	s.policies.forget(req.bucket)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketPolicy(w http.ResponseWriter, r *http.Request, req *request) error {
	ps, err := s.policyStore()
	if err != nil {
		return err
	}
	doc, err := ps.GetBucketPolicy(r.Context(), req.bucket)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
	return nil
}

func (s *Server) deleteBucketPolicy(w http.ResponseWriter, r *http.Request, req *request) error {
	ps, err := s.policyStore()
	if err != nil {
		return err
	}
	err = ps.DeleteBucketPolicy(r.Context(), req.bucket)
	s.policies.forget(req.bucket)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// bucketPolicy returns what the policy of bucket lets anyone do, nil when it has none. A
// policy that no longer parses (written by an older version with other rules) allows nothing.
func (s *Server) bucketPolicy(r *http.Request, bucket string) (*bucketPolicy, error) {
	if s.privateBucket(bucket) {
		return nil, nil
	}
	ps, ok := s.cfg.Backend.(BucketPolicyStore)
	if !ok {
		return nil, nil
	}
	now := s.now()
	p, ok, gen := s.policies.get(bucket, now)
	if ok {
		return p, nil
	}
	doc, err := ps.GetBucketPolicy(r.Context(), bucket)
	switch {
	case errors.Is(err, ErrNoSuchBucketPolicy), errors.Is(err, ErrNoSuchBucket):
		p = nil
	case err != nil:
		return nil, err
	default:
		if p, err = parseBucketPolicy(bucket, doc); err != nil {
			s.log.WarnContext(r.Context(), "stored bucket policy refused; the bucket stays private", "bucket", bucket, "err", err)
			p = nil
		}
	}
	s.policies.put(bucket, p, now, gen)
	return p, nil
}

var errAnonymousOverrides = apiErr("InvalidRequest", http.StatusBadRequest, "Request specific response headers cannot be used for anonymous GET requests.")

// authorizeAnonymous lets an unsigned request through when the bucket's policy allows it:
// GET and HEAD of an object (with no sub-resource but versionId and partNumber), a listing,
// or the bucket's location. Anything else is AccessDenied, as before there was a policy.
func (s *Server) authorizeAnonymous(r *http.Request, req *request) error {
	if req.bucket == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return errAccessDenied
	}
	p, err := s.bucketPolicy(r, req.bucket)
	if err != nil {
		return err
	}
	if p == nil {
		return errAccessDenied
	}
	q := req.query
	for name := range q {
		if strings.HasPrefix(name, "response-") {
			if req.key != "" && p.allowsGet(req.key) {
				return errAnonymousOverrides
			}
			return errAccessDenied
		}
	}
	switch {
	case req.key != "":
		if onlyParams(q, "versionId", "partNumber") && p.allowsGet(req.key) {
			return nil
		}
	case has(q, "location"):
		if len(q) == 1 && p.location {
			return nil
		}
	case onlyParams(q, "list-type", "prefix", "delimiter", "marker", "max-keys", "encoding-type", "continuation-token", "start-after", "fetch-owner"):
		prefix, present := q["prefix"]
		if p.allowsList(strings.Join(prefix, ""), present) {
			return nil
		}
	}
	return errAccessDenied
}

// onlyParams reports whether q has no parameter but the allowed ones.
func onlyParams(q map[string][]string, allowed ...string) bool {
	for name := range q {
		if !slices.Contains(allowed, name) {
			return false
		}
	}
	return true
}
