package s3backend

import (
	"encoding/base64"
	"mime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"presign/storage"
)

// What a node object keeps beside its bytes is stored as the service object's own headers
// (Content-Type, Cache-Control, ...) and x-amz-meta-* metadata, so that any S3 tool reading the
// bucket sees it. A few things have no S3 header of their own and are kept as metadata under
// names starting with "presign-":
//
//	presign-notype     "1" when the object has no Content-Type (services invent one otherwise)
//	presign-expires    the Expires header as given (S3 parses it as a date and drops others)
//	presign-cs-<alg>   a checksum ("presign-cs-crc32c"), base64 as in x-amz-checksum-*
//	presign-sums       "1" when the checksums, known only once the bytes had streamed through,
//	                   are kept in sums/<version> (as those of completed multipart uploads are)
//
// A user metadata name that itself starts with "presign" is stored as "presign-u-<name>".
// Values that HTTP or the service would not carry unchanged (empty, non-ASCII, control
// characters, surrounding spaces, or starting with "=?") are stored as RFC 2047 encoded-words,
// which is also how S3 returns non-ASCII metadata.
const (
	metaInternal = "presign-"
	metaUser     = "presign-u-"
	metaNoType   = metaInternal + "notype"
	metaExpires  = metaInternal + "expires"
	metaChecksum = metaInternal + "cs-"
	metaSums     = metaInternal + "sums"
)

// objectMeta is the metadata of a service object holding a node object.
type objectMeta struct {
	contentType, contentEncoding, contentDisposition, contentLanguage, cacheControl *string
	meta                                                                            map[string]string
}

// encodeMeta turns a node object's metadata and checksums into service headers.
func encodeMeta(m storage.Metadata, checksums map[string]string) objectMeta {
	out := objectMeta{
		contentType:        optional(m.ContentType),
		contentEncoding:    optional(m.ContentEncoding),
		contentDisposition: optional(m.ContentDisposition),
		contentLanguage:    optional(m.ContentLanguage),
		cacheControl:       optional(m.CacheControl),
		meta:               make(map[string]string, len(m.User)+len(checksums)+2),
	}
	for k, v := range m.User {
		if strings.HasPrefix(k, "presign") {
			k = metaUser + k
		}
		out.meta[k] = encodeValue(v)
	}
	if m.ContentType == "" {
		out.meta[metaNoType] = "1"
	}
	if m.Expires != "" {
		out.meta[metaExpires] = encodeValue(m.Expires)
	}
	for alg, v := range checksums {
		out.meta[metaChecksum+strings.ToLower(alg)] = v
	}
	return out
}

// decodedInfo is what a service object's headers say about the node object.
type decodedInfo struct {
	contentType, contentEncoding, contentDisposition, contentLanguage, cacheControl *string
	meta                                                                            map[string]string
	size                                                                            *int64
	etag                                                                            *string
	lastModified                                                                    *time.Time
}

// info rebuilds a node object's ObjectInfo from its service object's headers.
func (d decodedInfo) info(bucket, key string) storage.ObjectInfo {
	info := storage.ObjectInfo{
		Bucket: bucket,
		Key:    key,
		Size:   aws.ToInt64(d.size),
		ETag:   strings.Trim(aws.ToString(d.etag), `"`),
		Meta: storage.Metadata{
			ContentType:        aws.ToString(d.contentType),
			ContentEncoding:    aws.ToString(d.contentEncoding),
			ContentDisposition: aws.ToString(d.contentDisposition),
			ContentLanguage:    aws.ToString(d.contentLanguage),
			CacheControl:       aws.ToString(d.cacheControl),
		},
	}
	if d.lastModified != nil {
		info.LastModified = *d.lastModified
	}
	for k, v := range d.meta {
		k = strings.ToLower(k)
		switch {
		case strings.HasPrefix(k, metaUser):
			k = strings.TrimPrefix(k, metaUser)
		case k == metaNoType:
			info.Meta.ContentType = ""
			continue
		case k == metaExpires:
			info.Meta.Expires = decodeValue(v)
			continue
		case strings.HasPrefix(k, metaChecksum):
			if info.Checksums == nil {
				info.Checksums = make(map[string]string, 1)
			}
			info.Checksums[strings.ToUpper(strings.TrimPrefix(k, metaChecksum))] = v
			continue
		case strings.HasPrefix(k, metaInternal):
			continue // written by a later version of presign: not user metadata
		}
		if info.Meta.User == nil {
			info.Meta.User = make(map[string]string, len(d.meta))
		}
		info.Meta.User[k] = decodeValue(v)
	}
	return info
}

// hasMeta reports whether the metadata of a service object holds name, whatever the case the
// service returned it in.
func hasMeta(meta map[string]string, name string) bool {
	for k := range meta {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// encodeValue makes v safe to send as a header value: returned unchanged when HTTP and the
// service keep it as it is, as an RFC 2047 encoded-word otherwise.
func encodeValue(v string) string {
	plain := v != "" && !strings.HasPrefix(v, "=?") && v[0] != ' ' && v[len(v)-1] != ' '
	for i := 0; plain && i < len(v); i++ {
		plain = v[i] >= 0x20 && v[i] < 0x7f
	}
	if plain {
		return v
	}
	// One word, however long: mime.BEncoding would leave plain ASCII with spaces or "=?"
	// as it is, and split long values into words whose separating space decoders drop.
	return "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}

// decodeValue inverts encodeValue. A value that is not a valid encoded-word is returned as it
// is (another S3 client wrote it).
func decodeValue(v string) string {
	if !strings.HasPrefix(v, "=?") {
		return v
	}
	var d mime.WordDecoder
	s, err := d.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}
