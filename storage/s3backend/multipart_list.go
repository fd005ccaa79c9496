package s3backend

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// ListParts implements storage.Multiparter from the service's own part listing, with the
// checksums of the part records.
func (b *Backend) ListParts(ctx context.Context, bucket, key, id string, opts storage.ListPartsOptions) (storage.PartsPage, error) {
	st, err := b.findUpload(ctx, bucket, key, id)
	if err != nil {
		return storage.PartsPage{}, err
	}
	name, _ := b.objectName(bucket, key)
	// All parts, paged here: SeaweedFS skips parts after a part-number marker of fewer
	// digits ("9" skips 1000), and an upload has at most 10,000 parts.
	stored, err := b.storedParts(ctx, name, id)
	if err != nil {
		return storage.PartsPage{}, err
	}
	maxParts := opts.MaxParts
	if maxParts < 1 || maxParts > 1000 {
		maxParts = 1000
	}
	page := storage.PartsPage{Upload: st.upload(id)}
	for _, n := range stored.numbers() {
		if n <= opts.After {
			continue
		}
		if len(page.Parts) == maxParts {
			page.Truncated = true
			page.NextAfter = page.Parts[len(page.Parts)-1].Number
			break
		}
		if p, ok := stored.current(n); ok {
			page.Parts = append(page.Parts, p)
		}
	}
	return page, nil
}

// listedUpload is an upload in progress as its listing name describes it.
type listedUpload struct {
	key, id   string
	initiated time.Time
}

// uploadsOf returns the uploads in progress of bucket whose keys start with prefix, ordered by
// key and, for one key, by initiation. The listing is read whole: uploads in progress are few.
func (b *Backend) uploadsOf(ctx context.Context, bucket, prefix string) ([]listedUpload, error) {
	dir := b.listingDir(bucket)
	var ups []listedUpload
	err := b.scan(ctx, dir+encodeKey(prefix), "", func(e entry) (bool, string) {
		rest := strings.TrimPrefix(e.name, dir)
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return true, ""
		}
		ns, encID, ok := strings.Cut(rest[i+1:], ".")
		key, kerr := decodeKey(rest[:i])
		id, ierr := decodeKey(encID)
		n, nerr := strconv.ParseInt(ns, 10, 64)
		if ok && kerr == nil && ierr == nil && nerr == nil {
			ups = append(ups, listedUpload{key: key, id: id, initiated: time.Unix(0, n).UTC()})
		}
		return true, ""
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ups, func(a, b listedUpload) int {
		return cmp.Or(strings.Compare(a.key, b.key), a.initiated.Compare(b.initiated), strings.Compare(a.id, b.id))
	})
	return ups, nil
}

// ListMultipartUploads implements storage.Multiparter.
func (b *Backend) ListMultipartUploads(ctx context.Context, bucket string, opts storage.ListUploadsOptions) (storage.UploadsPage, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return storage.UploadsPage{}, err
	}
	ups, err := b.uploadsOf(ctx, bucket, opts.Prefix)
	if err != nil {
		return storage.UploadsPage{}, fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	start := 0
	if opts.KeyMarker != "" {
		start = len(ups)
		for i, u := range ups {
			if u.key > opts.KeyMarker {
				start = i
				break
			}
			if u.key == opts.KeyMarker && opts.UploadIDMarker != "" && u.id == opts.UploadIDMarker {
				start = i + 1
				break
			}
		}
	}
	maxUploads := opts.MaxUploads
	if maxUploads < 1 || maxUploads > 1000 {
		maxUploads = 1000
	}
	var page storage.UploadsPage
	count, lastCP := 0, ""
	for _, u := range ups[start:] {
		cp := commonPrefix(u.key, opts.Prefix, opts.Delimiter)
		if cp != "" && (cp == lastCP || cp <= opts.KeyMarker) {
			continue
		}
		if count == maxUploads {
			page.Truncated = true
			break
		}
		count++
		if cp != "" {
			lastCP = cp
			page.CommonPrefixes = append(page.CommonPrefixes, cp)
			page.NextKeyMarker, page.NextUploadIDMarker = cp, ""
			continue
		}
		st := uploadState{Bucket: bucket, Key: u.key, Initiated: u.initiated}
		page.Uploads = append(page.Uploads, st.upload(u.id))
		page.NextKeyMarker, page.NextUploadIDMarker = u.key, u.id
	}
	if !page.Truncated {
		page.NextKeyMarker, page.NextUploadIDMarker = "", ""
	}
	return page, nil
}

// orphanExpiry is how long an upload of the service with no node upload record (one the
// backend made for a PUT of unknown length, left by a crash) may stay.
const orphanExpiry = 24 * time.Hour

// expireUploads aborts the multipart uploads of the service bucket (under the prefix) that
// are older than Options.MultipartExpiry, or than orphanExpiry when no node upload owns them.
func (b *Backend) expireUploads(ctx context.Context) error {
	now := b.now()
	in := &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: aws.String(b.prefix)}
	for {
		out, err := b.s3.ListMultipartUploads(ctx, in)
		if err != nil {
			return b.mapErr(err)
		}
		for _, u := range out.Uploads {
			id, age := aws.ToString(u.UploadId), now.Sub(aws.ToTime(u.Initiated))
			if age < orphanExpiry {
				continue
			}
			data, err := b.getSmall(ctx, b.stateName(id))
			var st uploadState
			owned := err == nil && json.Unmarshal(data, &st) == nil
			if owned && age < b.opts.MultipartExpiry {
				continue
			}
			if _, err := b.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: u.Key, UploadId: &id}); err != nil && !notFound(err) {
				b.log.Warn("s3backend: aborting an expired upload", "upload", id, "err", err)
				continue
			}
			if owned {
				if err := b.forgetUpload(ctx, st, id); err != nil {
					b.log.Warn("s3backend: removing the records of an expired upload", "upload", id, "err", err)
				}
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
