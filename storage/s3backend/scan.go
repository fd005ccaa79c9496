package s3backend

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// entry is the current version of a stored name, as a listing reports it.
type entry struct {
	name         string
	versionID    string
	size         int64
	etag         string
	lastModified time.Time
}

// cursor says where a scan goes on: after the name marker, and, when versionID is set, after
// that version of it.
type cursor struct {
	marker, versionID string
}

// maxRune sorts after every character: a name followed by it sorts after every name the first
// one is a prefix of, barring names that go on with U+10FFFF itself.
const maxRune = "\U0010FFFF"

// scanPage lists one page of the current versions of the names under prefix after c, in name
// order, and returns where the next page starts (done when none follows).
//
// Listings go through ListObjectVersions rather than ListObjectsV2: the bucket keeps versions,
// and SeaweedFS's ListObjectsV2 of a versioned bucket drops names at page boundaries, while
// its version listing pages correctly. A name whose latest version is a delete marker is
// absent; older versions (kept for open Objects until their removal) are skipped.
func (b *Backend) scanPage(ctx context.Context, prefix string, c cursor, limit int) (entries []entry, next cursor, done bool, err error) {
	in := &s3.ListObjectVersionsInput{
		Bucket:  &b.bucket,
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(int32(min(max(limit, 1), 1000))),
	}
	if c.marker != "" {
		in.KeyMarker = aws.String(c.marker)
		if c.versionID != "" {
			in.VersionIdMarker = aws.String(c.versionID)
		}
	}
	out, err := b.s3.ListObjectVersions(ctx, in)
	if err != nil {
		return nil, cursor{}, false, b.mapErr(err)
	}
	for _, v := range out.Versions {
		if !aws.ToBool(v.IsLatest) {
			continue
		}
		name := aws.ToString(v.Key)
		if c.marker != "" && name <= c.marker && c.versionID == "" {
			continue // a service that repeats the marker
		}
		e := entry{
			name:      name,
			versionID: aws.ToString(v.VersionId),
			size:      aws.ToInt64(v.Size),
			etag:      strings.Trim(aws.ToString(v.ETag), `"`),
		}
		if v.LastModified != nil {
			e.lastModified = *v.LastModified
		}
		entries = append(entries, e)
	}
	if !aws.ToBool(out.IsTruncated) {
		return entries, cursor{}, true, nil
	}
	next = cursor{marker: aws.ToString(out.NextKeyMarker), versionID: aws.ToString(out.NextVersionIdMarker)}
	if next.marker == "" || next.marker < c.marker {
		// A service that pages without saying where: go on after the last name seen.
		return entries, cursor{}, true, nil
	}
	return entries, next, false, nil
}

// scan calls fn with the current versions of the names under prefix after marker, in order,
// until fn returns false or the names run out. fn may ask to skip ahead by returning a name:
// the scan then goes on after it.
func (b *Backend) scan(ctx context.Context, prefix, marker string, fn func(e entry) (more bool, skipTo string)) error {
	c := cursor{marker: marker}
	for {
		entries, next, done, err := b.scanPage(ctx, prefix, c, 1000)
		if err != nil {
			return err
		}
		skip := ""
		for _, e := range entries {
			if skip != "" && e.name <= skip {
				continue
			}
			more, to := fn(e)
			if !more {
				return nil
			}
			if to != "" {
				skip = to
			}
		}
		if done {
			return nil
		}
		if skip != "" && skip > next.marker {
			next = cursor{marker: skip}
		}
		c = next
	}
}
