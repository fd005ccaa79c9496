package storage

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const maxListKeys = 1000

type listContent struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        *owner `xml:",omitempty"`
}

type listPrefix struct {
	Prefix string
}

// listParams are the parameters both ListObjects versions share.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	urlEncode         bool
}

func readListParams(q url.Values) (listParams, error) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxListKeys}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, apiErr("InvalidArgument", http.StatusBadRequest, "max-keys must be a non-negative integer.")
		}
		p.maxKeys = min(n, maxListKeys)
	}
	switch e := q.Get("encoding-type"); e {
	case "":
	case "url":
		p.urlEncode = true
	default:
		return p, apiErr("InvalidArgument", http.StatusBadRequest, "Invalid Encoding Method specified in Request")
	}
	return p, nil
}

// encode applies encoding-type=url: the form S3 uses, which every SDK decodes (a space is
// %20, so decoders that treat '+' as a space and those that do not agree).
func (p listParams) encode(s string) string {
	if !p.urlEncode {
		return s
	}
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// page lists one page after the given key.
func (s *Server) page(r *http.Request, req *request, p listParams, after string) (ListPage, error) {
	if p.maxKeys == 0 {
		// Still report a missing bucket.
		_, err := s.cfg.Backend.HeadBucket(r.Context(), req.bucket)
		return ListPage{}, err
	}
	return s.cfg.Backend.ListObjects(r.Context(), req.bucket, ListOptions{Prefix: p.prefix, Delimiter: p.delimiter, After: after, MaxKeys: p.maxKeys})
}

func (p listParams) contents(page ListPage, withOwner bool) ([]listContent, []listPrefix) {
	cs := make([]listContent, 0, len(page.Objects))
	for _, o := range page.Objects {
		c := listContent{Key: p.encode(o.Key), LastModified: isoTime(o.LastModified), ETag: quoteETag(o.ETag), Size: o.Size, StorageClass: "STANDARD"}
		if withOwner {
			c.Owner = &nodeOwner
		}
		cs = append(cs, c)
	}
	ps := make([]listPrefix, 0, len(page.CommonPrefixes))
	for _, cp := range page.CommonPrefixes {
		ps = append(ps, listPrefix{p.encode(cp)})
	}
	return cs, ps
}

func (s *Server) listObjectsV2(w http.ResponseWriter, r *http.Request, req *request) error {
	q := req.query
	p, err := readListParams(q)
	if err != nil {
		return err
	}
	startAfter := q.Get("start-after")
	after := startAfter
	token := q.Get("continuation-token")
	if has(q, "continuation-token") {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return apiErr("InvalidArgument", http.StatusBadRequest, "The continuation token provided is incorrect")
		}
		after = max(after, string(raw))
	}
	page, err := s.page(r, req, p, after)
	if err != nil {
		return err
	}
	cs, ps := p.contents(page, q.Get("fetch-owner") == "true")
	out := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		NS                    string   `xml:"xmlns,attr"`
		Name                  string
		Prefix                string
		Delimiter             string `xml:",omitempty"`
		MaxKeys               int
		EncodingType          string `xml:",omitempty"`
		KeyCount              int
		IsTruncated           bool
		ContinuationToken     string `xml:",omitempty"`
		NextContinuationToken string `xml:",omitempty"`
		StartAfter            string `xml:",omitempty"`
		Contents              []listContent
		CommonPrefixes        []listPrefix
	}{
		NS: s3NS, Name: req.bucket, Prefix: p.encode(p.prefix), Delimiter: p.encode(p.delimiter), MaxKeys: p.maxKeys,
		KeyCount: len(cs) + len(ps), IsTruncated: page.Truncated, ContinuationToken: token,
		StartAfter: p.encode(startAfter), Contents: cs, CommonPrefixes: ps,
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	if page.Truncated {
		out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(page.NextAfter))
	}
	return writeXML(w, out)
}

func (s *Server) listObjectsV1(w http.ResponseWriter, r *http.Request, req *request) error {
	q := req.query
	p, err := readListParams(q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	page, err := s.page(r, req, p, marker)
	if err != nil {
		return err
	}
	cs, ps := p.contents(page, true)
	out := struct {
		XMLName        xml.Name `xml:"ListBucketResult"`
		NS             string   `xml:"xmlns,attr"`
		Name           string
		Prefix         string
		Marker         string
		NextMarker     string `xml:",omitempty"`
		MaxKeys        int
		Delimiter      string `xml:",omitempty"`
		EncodingType   string `xml:",omitempty"`
		IsTruncated    bool
		Contents       []listContent
		CommonPrefixes []listPrefix
	}{
		// v1 leaves the top-level Prefix unencoded, as S3 does (botocore decodes only what S3
		// encodes).
		NS: s3NS, Name: req.bucket, Prefix: p.prefix, Marker: p.encode(marker), MaxKeys: p.maxKeys,
		Delimiter: p.encode(p.delimiter), IsTruncated: page.Truncated, Contents: cs, CommonPrefixes: ps,
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	if page.Truncated {
		out.NextMarker = p.encode(page.NextAfter)
	}
	return writeXML(w, out)
}
