package storage

import (
	"encoding/xml"
	"net/http"
	"net/url"

	"presign/sigv4"
)

// Versioning. Buckets of this node are never versioned, and the reads say so as S3 says it of
// a bucket that never was: GetBucketVersioning answers an empty configuration, and
// ListObjectVersions lists each current object as its one version, "null" (which cleanup tools
// and test suites walk to empty a bucket). A request naming version "null" acts on the object;
// any other version id does not exist. Turning versioning on is refused, since the node could
// not keep the promise.

// nullVersion is the version id of every object of an unversioned bucket.
const nullVersion = "null"

var errNoSuchVersion = &APIError{"NoSuchVersion", http.StatusNotFound, "The specified version does not exist.", nil}

var errInvalidVersionID = &APIError{"InvalidArgument", http.StatusBadRequest, "Invalid version id specified", []sigv4.Field{{Name: "ArgumentName", Value: "versionId"}}}

// checkVersionID accepts a request without versionId, or naming version "null".
func checkVersionID(q url.Values) error {
	if v, ok := q["versionId"]; ok && (len(v) != 1 || v[0] != nullVersion) {
		return errInvalidVersionID
	}
	return nil
}

// namesVersion reports whether the request named a version (which is then "null"), so that
// the answer carries x-amz-version-id as S3's does.
func namesVersion(q url.Values) bool { return has(q, "versionId") }

func (s *Server) getBucketVersioning(w http.ResponseWriter, r *http.Request, req *request) error {
	if _, err := s.cfg.Backend.HeadBucket(r.Context(), req.bucket); err != nil {
		return err
	}
	return writeXML(w, struct {
		XMLName xml.Name `xml:"VersioningConfiguration"`
		NS      string   `xml:"xmlns,attr"`
	}{NS: s3NS})
}

func (s *Server) putBucketVersioning(w http.ResponseWriter, r *http.Request, req *request) error {
	body, err := s.readDocument(w, r, req)
	if err != nil {
		return err
	}
	var conf struct {
		XMLName   xml.Name `xml:"VersioningConfiguration"`
		Status    string
		MfaDelete string
	}
	if err := xml.Unmarshal(body, &conf); err != nil {
		return errMalformedXML
	}
	if _, err := s.cfg.Backend.HeadBucket(r.Context(), req.bucket); err != nil {
		return err
	}
	return apiErr("NotImplemented", http.StatusNotImplemented,
		"This storage node keeps one version of each object: bucket versioning (Status %q) is not supported, and the bucket stays unversioned.", conf.Status)
}

// versionEntry is one <Version> of a ListVersionsResult.
type versionEntry struct {
	Key          string
	VersionID    string `xml:"VersionId"`
	IsLatest     bool
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        owner
}

func (s *Server) listObjectVersions(w http.ResponseWriter, r *http.Request, req *request) error {
	q := req.query
	p, err := readListParams(q)
	if err != nil {
		return err
	}
	keyMarker := q.Get("key-marker")
	if vm, ok := q["version-id-marker"]; ok {
		switch {
		case keyMarker == "":
			return apiErr("InvalidArgument", http.StatusBadRequest, "A version-id marker cannot be specified without a key marker.")
		case vm[0] != nullVersion && vm[0] != "":
			return apiErr("InvalidArgument", http.StatusBadRequest, "Invalid version id specified")
		}
	}
	// Each key has one version, so every version of the marker's key is at or before the
	// marker: the listing resumes after the key.
	page, err := s.page(r, req, p, keyMarker)
	if err != nil {
		return err
	}
	versions := make([]versionEntry, 0, len(page.Objects))
	for _, o := range page.Objects {
		versions = append(versions, versionEntry{Key: p.encode(o.Key), VersionID: nullVersion, IsLatest: true,
			LastModified: isoTime(o.LastModified), ETag: quoteETag(o.ETag), Size: o.Size, StorageClass: "STANDARD", Owner: nodeOwner})
	}
	_, prefixes := p.contents(ListPage{CommonPrefixes: page.CommonPrefixes}, false)
	out := struct {
		XMLName             xml.Name `xml:"ListVersionsResult"`
		NS                  string   `xml:"xmlns,attr"`
		Name                string
		Prefix              string
		KeyMarker           string
		VersionIDMarker     string `xml:"VersionIdMarker"`
		NextKeyMarker       string `xml:",omitempty"`
		NextVersionIDMarker string `xml:"NextVersionIdMarker,omitempty"`
		MaxKeys             int
		Delimiter           string `xml:",omitempty"`
		EncodingType        string `xml:",omitempty"`
		IsTruncated         bool
		Versions            []versionEntry `xml:"Version"`
		CommonPrefixes      []listPrefix
	}{
		NS: s3NS, Name: req.bucket, Prefix: p.encode(p.prefix), KeyMarker: p.encode(keyMarker), VersionIDMarker: q.Get("version-id-marker"),
		MaxKeys: p.maxKeys, Delimiter: p.encode(p.delimiter), IsTruncated: page.Truncated, Versions: versions, CommonPrefixes: prefixes,
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	if page.Truncated {
		out.NextKeyMarker = p.encode(page.NextAfter)
		out.NextVersionIDMarker = nullVersion
	}
	return writeXML(w, out)
}
