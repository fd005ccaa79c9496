package storage

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Browsers upload straight to the storage node from the control plane's page, so the node
// speaks CORS as S3 does: a bucket's CORSConfiguration lists rules; a preflight (OPTIONS) is
// answered before authentication, since browsers never sign it; and every actual response to a
// request with an Origin carries the headers of the first rule that allows it.

// CORSRule is one rule of a bucket's CORS configuration, in S3's XML form.
type CORSRule struct {
	// ID optionally names the rule (at most 255 characters).
	ID string `xml:"ID,omitempty"`
	// AllowedOrigins are the origins the rule admits, e.g. "https://app.example.com"; each may
	// hold one '*' that matches any run of characters ("http://*.example.com", "*").
	AllowedOrigins []string `xml:"AllowedOrigin"`
	// AllowedMethods are among GET, PUT, HEAD, POST and DELETE.
	AllowedMethods []string `xml:"AllowedMethod"`
	// AllowedHeaders are the request headers a preflight may ask for, matched without regard
	// to case; each may hold one '*' ("x-amz-*", "*").
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	// ExposeHeaders are the response headers scripts may read. ETag is always exposed.
	ExposeHeaders []string `xml:"ExposeHeader,omitempty"`
	// MaxAgeSeconds is how long a browser may cache the preflight answer; 0 leaves it to the
	// browser.
	MaxAgeSeconds int `xml:"MaxAgeSeconds,omitempty"`
}

// BrowserCORSRule is the rule a web application needs to upload and download with presigned
// URLs and POST forms from origins: every S3 method, any request header, and the response
// headers a client reads (ETag for multipart completion, request id, checksums).
func BrowserCORSRule(origins ...string) CORSRule {
	return CORSRule{
		AllowedOrigins: origins,
		AllowedMethods: []string{"GET", "PUT", "HEAD", "POST", "DELETE"},
		AllowedHeaders: []string{"*"},
		ExposeHeaders: []string{"ETag", "x-amz-request-id", "x-amz-checksum-crc32", "x-amz-checksum-crc32c",
			"x-amz-checksum-crc64nvme", "x-amz-checksum-sha1", "x-amz-checksum-sha256"},
		MaxAgeSeconds: 3000,
	}
}

// corsConfiguration is the document of PutBucketCors and GetBucketCors.
type corsConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	NS      string     `xml:"xmlns,attr,omitempty"`
	Rules   []CORSRule `xml:"CORSRule"`
}

// S3's limits on a CORS configuration.
const (
	maxCORSRules    = 100
	maxCORSDocument = 64 << 10
	maxCORSRuleID   = 255
)

var (
	// The message is S3's, typo included, so that clients matching on it keep working.
	errCORSNotAllowed = &APIError{"AccessForbidden", http.StatusForbidden, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.", nil}
	errCORSNotEnabled = &APIError{"AccessForbidden", http.StatusForbidden, "CORSResponse: CORS is not enabled for this bucket.", nil}
	errCORSNoOrigin   = &APIError{"BadRequest", http.StatusBadRequest, "Insufficient information. Origin request header needed.", nil}
)

// corsMethods are the methods a rule may allow.
var corsMethods = []string{"GET", "PUT", "HEAD", "POST", "DELETE"}

// checkCORSRules applies S3's rules for a configuration: 1 to 100 rules, each with an origin
// and a method, known methods only, at most one wildcard per origin and header.
func checkCORSRules(rules []CORSRule) error {
	if len(rules) == 0 || len(rules) > maxCORSRules {
		return apiErr("MalformedXML", http.StatusBadRequest, "A CORS configuration must have 1 to %d CORSRule elements.", maxCORSRules)
	}
	for _, r := range rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return apiErr("MalformedXML", http.StatusBadRequest, "Each CORSRule must have an AllowedOrigin and an AllowedMethod.")
		}
		if len(r.ID) > maxCORSRuleID {
			return apiErr("InvalidArgument", http.StatusBadRequest, "The ID of a CORSRule can be at most %d characters.", maxCORSRuleID)
		}
		if r.MaxAgeSeconds < 0 {
			return apiErr("MalformedXML", http.StatusBadRequest, "MaxAgeSeconds must not be negative.")
		}
		for _, m := range r.AllowedMethods {
			if !slices.Contains(corsMethods, m) {
				return apiErr("InvalidRequest", http.StatusBadRequest, "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return apiErr("InvalidRequest", http.StatusBadRequest, "AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return apiErr("InvalidRequest", http.StatusBadRequest, "AllowedHeader %q can not have more than one wildcard.", h)
			}
		}
	}
	return nil
}

// corsStore is the backend's BucketCORSStore, if it has one.
func (s *Server) corsStore() (BucketCORSStore, bool) {
	st, ok := s.cfg.Backend.(BucketCORSStore)
	return st, ok
}

func (s *Server) putBucketCors(w http.ResponseWriter, r *http.Request, req *request) error {
	st, ok := s.corsStore()
	if !ok {
		return errNotImplemented
	}
	if r.Header.Get("Content-MD5") == "" && !hasChecksumHeader(r.Header) {
		return errMissingContentHash
	}
	body, err := s.readDocument(w, r, req)
	if err != nil {
		return err
	}
	if len(body) > maxCORSDocument {
		return apiErr("InvalidRequest", http.StatusBadRequest, "The CORS configuration is larger than %d bytes.", maxCORSDocument)
	}
	var conf corsConfiguration
	if err := xml.Unmarshal(body, &conf); err != nil {
		return errMalformedXML
	}
	for i := range conf.Rules {
		trimRule(&conf.Rules[i])
	}
	if err := checkCORSRules(conf.Rules); err != nil {
		return err
	}
	conf.NS = s3NS
	doc, err := xml.Marshal(conf)
	if err != nil {
		return fmt.Errorf("encode CORS configuration: %w", err)
	}
	err = st.PutBucketCORS(r.Context(), req.bucket, doc)
	s.cors.forget(req.bucket)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// trimRule drops the white space an indented XML document leaves around values.
func trimRule(r *CORSRule) {
	r.ID = strings.TrimSpace(r.ID)
	for _, l := range [][]string{r.AllowedOrigins, r.AllowedMethods, r.AllowedHeaders, r.ExposeHeaders} {
		for i := range l {
			l[i] = strings.TrimSpace(l[i])
		}
	}
}

func (s *Server) getBucketCors(w http.ResponseWriter, r *http.Request, req *request) error {
	st, ok := s.corsStore()
	if !ok {
		return errNotImplemented
	}
	doc, err := st.GetBucketCORS(r.Context(), req.bucket)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(doc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append([]byte(xml.Header), doc...))
	return nil
}

func (s *Server) deleteBucketCors(w http.ResponseWriter, r *http.Request, req *request) error {
	st, ok := s.corsStore()
	if !ok {
		return errNotImplemented
	}
	err := st.DeleteBucketCORS(r.Context(), req.bucket)
	s.cors.forget(req.bucket)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// corsRules returns the rules that govern bucket: its own configuration, else the node's
// default rules. A bucket that does not exist gets the default rules, so that a browser sees
// the actual request's NoSuchBucket instead of an opaque CORS failure.
func (s *Server) corsRules(ctx context.Context, bucket string) ([]CORSRule, error) {
	st, ok := s.corsStore()
	if !ok || bucket == "" {
		return s.cfg.DefaultCORS, nil
	}
	now := s.now()
	rules, ok, gen := s.cors.get(bucket, now)
	if ok {
		return rules, nil
	}
	doc, err := st.GetBucketCORS(ctx, bucket)
	switch {
	case errors.Is(err, ErrNoSuchCORSConfiguration), errors.Is(err, ErrNoSuchBucket):
		rules = s.cfg.DefaultCORS
	case err != nil:
		return nil, err
	default:
		var conf corsConfiguration
		if err := xml.NewDecoder(bytes.NewReader(doc)).Decode(&conf); err != nil {
			return nil, fmt.Errorf("stored CORS configuration of %q: %w", bucket, err)
		}
		rules = conf.Rules
	}
	s.cors.put(bucket, rules, now, gen)
	return rules, nil
}

// preflight answers an OPTIONS request. It needs no signature: browsers send preflights
// without credentials.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, req *request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		s.writeError(w, r, req, errCORSNoOrigin)
		return
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(corsMethods, method) {
		s.writeError(w, r, req, apiErr("BadRequest", http.StatusBadRequest, "Invalid Access-Control-Request-Method: %s", method))
		return
	}
	rules, err := s.corsRules(r.Context(), req.bucket)
	if err != nil {
		s.writeError(w, r, req, err)
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	if len(rules) == 0 {
		s.writeError(w, r, req, errCORSNotEnabled)
		return
	}
	asked := requestedHeaders(r.Header.Values("Access-Control-Request-Headers"))
	rule, ok := matchCORS(rules, origin, method, asked)
	if !ok {
		s.writeError(w, r, req, errCORSNotAllowed)
		return
	}
	setAllowHeaders(h, rule, origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(asked) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
	}
	if rule.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
	w.WriteHeader(http.StatusOK)
}

// setCORSHeaders adds the CORS headers of an actual (non-preflight) response: when the request
// has an Origin and a rule allows it with the request's method. They are set before anything
// else happens, so that errors (an expired URL, a policy violation) are readable by the page
// too. A failure to read the rules only costs the headers.
func (s *Server) setCORSHeaders(w http.ResponseWriter, r *http.Request, req *request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	rules, err := s.corsRules(r.Context(), req.bucket)
	if err != nil {
		s.log.ErrorContext(r.Context(), "read CORS configuration", "request_id", req.id, "bucket", req.bucket, "err", err)
		return
	}
	if len(rules) == 0 {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if rule, ok := matchCORS(rules, origin, r.Method, nil); ok {
		setAllowHeaders(h, rule, origin)
	}
}

// setAllowHeaders writes the headers common to preflight and actual responses. A rule for
// any origin ("*") answers "*" without credentials, as S3 does; a rule naming origins echoes
// the request's origin and allows credentials.
func setAllowHeaders(h http.Header, rule CORSRule, origin string) {
	if slices.Contains(rule.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	expose := rule.ExposeHeaders
	// A browser cannot complete a multipart upload without reading each part's ETag, and
	// forgetting to expose it is the most common CORS mistake; it reveals nothing.
	if !slices.ContainsFunc(expose, func(e string) bool { return strings.EqualFold(e, "ETag") }) {
		expose = append([]string{"ETag"}, expose...)
	}
	h.Set("Access-Control-Expose-Headers", strings.Join(expose, ", "))
}

// requestedHeaders splits Access-Control-Request-Headers into lower-case names.
func requestedHeaders(values []string) []string {
	var out []string
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// matchCORS returns the first rule that allows origin with method, and every header in
// headers (lower-case).
func matchCORS(rules []CORSRule, origin, method string, headers []string) (CORSRule, bool) {
	origin = strings.ToLower(origin)
	for _, rule := range rules {
		if !slices.Contains(rule.AllowedMethods, method) {
			continue
		}
		if !slices.ContainsFunc(rule.AllowedOrigins, func(o string) bool { return wildcardMatch(strings.ToLower(o), origin) }) {
			continue
		}
		allHeaders := true
		for _, name := range headers {
			if !slices.ContainsFunc(rule.AllowedHeaders, func(a string) bool { return wildcardMatch(strings.ToLower(a), name) }) {
				allHeaders = false
				break
			}
		}
		if allHeaders {
			return rule, true
		}
	}
	return CORSRule{}, false
}

// wildcardMatch matches s against a pattern with at most one '*', which stands for any run of
// characters, the empty one included.
func wildcardMatch(pattern, s string) bool {
	prefix, suffix, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return len(s) >= len(prefix)+len(suffix) && strings.HasPrefix(s, prefix) && strings.HasSuffix(s, suffix)
}
