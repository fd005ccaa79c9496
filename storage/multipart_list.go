package storage

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
)

// maxListParts is S3's cap of max-parts and max-uploads.
const maxListParts = 1000

// listLimit reads a max-parts or max-uploads parameter: absent means maxListParts, larger
// values are capped at it.
func listLimit(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return maxListParts, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apiErr("InvalidArgument", http.StatusBadRequest, "%s must be a non-negative integer.", name)
	}
	return min(n, maxListParts), nil
}

// encodingParams reads encoding-type; only its encode method is used.
func encodingParams(q url.Values) (listParams, error) {
	switch e := q.Get("encoding-type"); e {
	case "":
		return listParams{}, nil
	case "url":
		return listParams{urlEncode: true}, nil
	}
	return listParams{}, apiErr("InvalidArgument", http.StatusBadRequest, "Invalid Encoding Method specified in Request")
}

type partXML struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	checksumXML
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, req *request, mp Multiparter) error {
	q := req.query
	limit, err := listLimit(q, "max-parts")
	if err != nil {
		return err
	}
	enc, err := encodingParams(q)
	if err != nil {
		return err
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return apiErr("InvalidArgument", http.StatusBadRequest, "part-number-marker must be a non-negative integer.")
		}
	}
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	uploadID := q.Get("uploadId")
	var page PartsPage
	if limit == 0 {
		// Still report a missing upload.
		up, err := mp.HeadMultipartUpload(r.Context(), req.bucket, req.key, uploadID)
		if err != nil {
			return err
		}
		page.Upload = up
	} else if page, err = mp.ListParts(r.Context(), req.bucket, req.key, uploadID, ListPartsOptions{After: marker, MaxParts: limit}); err != nil {
		return err
	}
	out := struct {
		XMLName              xml.Name `xml:"ListPartsResult"`
		NS                   string   `xml:"xmlns,attr"`
		Bucket               string
		Key                  string
		UploadID             string `xml:"UploadId"`
		EncodingType         string `xml:",omitempty"`
		Initiator            owner
		Owner                owner
		StorageClass         string
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		Parts                []partXML `xml:"Part"`
		ChecksumAlgorithm    string    `xml:",omitempty"`
		ChecksumType         string    `xml:",omitempty"`
	}{
		NS: s3NS, Bucket: req.bucket, Key: enc.encode(req.key), UploadID: uploadID,
		Initiator: nodeOwner, Owner: nodeOwner, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: limit, IsTruncated: page.Truncated,
		ChecksumAlgorithm: page.Upload.ChecksumAlgorithm, ChecksumType: page.Upload.ChecksumType,
	}
	if enc.urlEncode {
		out.EncodingType = "url"
	}
	for _, p := range page.Parts {
		out.Parts = append(out.Parts, partXML{p.Number, isoTime(p.LastModified), quoteETag(p.ETag), p.Size, newChecksumXML(p.Checksums)})
		out.NextPartNumberMarker = p.Number
	}
	return writeXML(w, out)
}

// listMultipartUploads answers GET /bucket?uploads.
func (s *Server) listMultipartUploads(w http.ResponseWriter, r *http.Request, req *request) error {
	mp, ok := s.cfg.Backend.(Multiparter)
	if !ok {
		return errNotImplemented
	}
	q := req.query
	limit, err := listLimit(q, "max-uploads")
	if err != nil {
		return err
	}
	enc, err := encodingParams(q)
	if err != nil {
		return err
	}
	opts := ListUploadsOptions{
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		KeyMarker: q.Get("key-marker"), UploadIDMarker: q.Get("upload-id-marker"), MaxUploads: limit,
	}
	if opts.KeyMarker == "" {
		opts.UploadIDMarker = "" // S3 ignores an upload-id-marker without a key-marker
	}
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	var page UploadsPage
	if limit == 0 {
		_, err = s.cfg.Backend.HeadBucket(r.Context(), req.bucket)
	} else {
		page, err = mp.ListMultipartUploads(r.Context(), req.bucket, opts)
	}
	if err != nil {
		return err
	}
	type uploadXML struct {
		Key               string
		UploadID          string `xml:"UploadId"`
		Initiator         owner
		Owner             owner
		StorageClass      string
		Initiated         string
		ChecksumAlgorithm string `xml:",omitempty"`
		ChecksumType      string `xml:",omitempty"`
	}
	out := struct {
		XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
		NS                 string   `xml:"xmlns,attr"`
		Bucket             string
		KeyMarker          string
		UploadIDMarker     string `xml:"UploadIdMarker"`
		NextKeyMarker      string
		NextUploadIDMarker string `xml:"NextUploadIdMarker"`
		Prefix             string
		Delimiter          string `xml:",omitempty"`
		MaxUploads         int
		EncodingType       string `xml:",omitempty"`
		IsTruncated        bool
		Uploads            []uploadXML  `xml:"Upload"`
		CommonPrefixes     []listPrefix `xml:"CommonPrefixes"`
	}{
		NS: s3NS, Bucket: req.bucket, KeyMarker: enc.encode(opts.KeyMarker), UploadIDMarker: opts.UploadIDMarker,
		NextKeyMarker: enc.encode(page.NextKeyMarker), NextUploadIDMarker: page.NextUploadIDMarker,
		Prefix: enc.encode(opts.Prefix), Delimiter: enc.encode(opts.Delimiter), MaxUploads: limit, IsTruncated: page.Truncated,
	}
	if enc.urlEncode {
		out.EncodingType = "url"
	}
	for _, u := range page.Uploads {
		out.Uploads = append(out.Uploads, uploadXML{
			Key: enc.encode(u.Key), UploadID: u.UploadID, Initiator: nodeOwner, Owner: nodeOwner, StorageClass: "STANDARD",
			Initiated: isoTime(u.Initiated), ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType,
		})
	}
	for _, p := range page.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, listPrefix{enc.encode(p)})
	}
	return writeXML(w, out)
}
