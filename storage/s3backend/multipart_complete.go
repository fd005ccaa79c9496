package s3backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"presign/storage"
)

// doneRecord is what done/<id> holds: enough to answer a retried completion as the first.
type doneRecord struct {
	Bucket string             `json:"bucket"`
	Key    string             `json:"key"`
	Parts  string             `json:"parts"`
	Object storage.ObjectInfo `json:"object"`
}

// doneKeep is how long a completion is remembered for retries (the contract asks for a day).
const doneKeep = 48 * time.Hour

// partsSignature identifies a completion's part list.
func partsSignature(parts []storage.CompletePart) string {
	var sb strings.Builder
	for _, p := range parts {
		sb.WriteString(strconv.Itoa(p.Number) + ":" + p.ETag + ";")
	}
	return sb.String()
}

// replay answers a completion of an upload that already completed: as the first did, when
// the parts are the same, and ErrNoSuchUpload otherwise. found is false when no completion of
// the upload is on record.
func (b *Backend) replay(ctx context.Context, bucket, key, id string, parts []storage.CompletePart) (done storage.CompletedUpload, found bool, err error) {
	data, err := b.getSmall(ctx, b.doneName(id))
	if errors.Is(err, errNotThere) {
		return storage.CompletedUpload{}, false, nil
	}
	if err != nil {
		return storage.CompletedUpload{}, false, fmt.Errorf("complete %s: %w", id, err)
	}
	var d doneRecord
	if err := json.Unmarshal(data, &d); err != nil {
		return storage.CompletedUpload{}, false, fmt.Errorf("complete %s: record: %w", id, err)
	}
	if d.Bucket != bucket || d.Key != key || d.Parts != partsSignature(parts) {
		return storage.CompletedUpload{}, true, storage.ErrNoSuchUpload
	}
	return storage.CompletedUpload{Object: d.Object, Replayed: true}, true, nil
}

// replayRacing answers a completion the service refused because the upload had just been
// completed by another node: it waits a little for that node's record.
func (b *Backend) replayRacing(ctx context.Context, bucket, key, id string, parts []storage.CompletePart) (storage.CompletedUpload, error) {
	for range 30 {
		done, found, err := b.replay(ctx, bucket, key, id, parts)
		if found || err != nil {
			return done, err
		}
		select {
		case <-ctx.Done():
			return storage.CompletedUpload{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return storage.CompletedUpload{}, storage.ErrNoSuchUpload
}

// CompleteMultipartUpload implements storage.Multiparter: the parts are checked against what
// the service and the part records hold, the object's checksum is computed from the parts',
// and the service's completion makes the object, applying the conditions atomically.
func (b *Backend) CompleteMultipartUpload(ctx context.Context, bucket, key, id string, parts []storage.CompletePart, opts storage.CompleteOptions) (storage.CompletedUpload, error) {
	unlock := b.locks.lock("upload " + id)
	defer unlock()
	// A completion is on record before the upload's state goes, so no state and no record
	// means no such upload.
	if done, found, err := b.replay(ctx, bucket, key, id, parts); found || err != nil {
		return done, err
	}
	st, err := b.findUpload(ctx, bucket, key, id)
	if errors.Is(err, storage.ErrNoSuchUpload) {
		// Completed through another node since the first look: its record is there now.
		done, _, rerr := b.replay(ctx, bucket, key, id, parts)
		if rerr == nil && done.Replayed {
			return done, nil
		}
		return storage.CompletedUpload{}, storage.ErrNoSuchUpload
	}
	if err != nil {
		return storage.CompletedUpload{}, err
	}
	name, err := b.objectName(bucket, key)
	if err != nil {
		return storage.CompletedUpload{}, err
	}
	stored, err := b.storedParts(ctx, name, id)
	if errors.Is(err, storage.ErrNoSuchUpload) {
		return b.replayRacing(ctx, bucket, key, id, parts)
	}
	if err != nil {
		return storage.CompletedUpload{}, err
	}
	c, err := storage.CheckCompletion(st.Options, parts, opts, func(n int, etag string) (storage.PartInfo, bool, error) {
		p, ok := stored.withETag(n, etag)
		return p, ok, nil
	})
	if err != nil {
		return storage.CompletedUpload{}, err
	}

	// Of several nodes completing the upload at once only the one that claims it asks the
	// service (SeaweedFS completes one upload twice when asked twice at once); the others
	// answer from its record.
	claimed, err := b.claimCompletion(ctx, id)
	if err != nil {
		return storage.CompletedUpload{}, err
	}
	if !claimed {
		return b.replayRacing(ctx, bucket, key, id, parts)
	}
	defer b.deleteNames(context.WithoutCancel(ctx), b.claimName(id))
	// A completion that held the claim before this one left its record before letting go.
	if done, found, err := b.replay(ctx, bucket, key, id, parts); found || err != nil {
		return done, err
	}

	done, version, err := b.completeOnService(ctx, st, bucket, key, name, id, parts, opts, c.Size)
	if err != nil || done.Replayed {
		return done, err
	}
	done.Object.Checksums = c.Checksums
	b.recordCompletion(context.WithoutCancel(ctx), st, bucket, key, id, version, parts, done.Object)
	return done, nil
}

// completeOnService asks the service to make the object name of the listed parts, under the
// write conditions of opts, and returns it as the node reports objects, with the service's
// version of it. When the service no longer knows the upload, another node completed it
// meanwhile, and the answer is that one's, Replayed.
func (b *Backend) completeOnService(ctx context.Context, st uploadState, bucket, key, name, id string, parts []storage.CompletePart, opts storage.CompleteOptions, size int64) (storage.CompletedUpload, string, error) {
	in := &s3.CompleteMultipartUploadInput{Bucket: &b.bucket, Key: &name, UploadId: &id, MultipartUpload: &types.CompletedMultipartUpload{}}
	for _, p := range parts {
		in.MultipartUpload.Parts = append(in.MultipartUpload.Parts, types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(`"` + p.ETag + `"`)})
	}
	if opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if opts.IfMatch != "" {
		in.IfMatch = aws.String(`"` + opts.IfMatch + `"`)
	}
	cond := storage.PutOptions{Meta: st.Options.Meta, IfNoneMatch: opts.IfNoneMatch, IfMatch: opts.IfMatch}
	if cond.IfNoneMatch || cond.IfMatch != "" {
		// Services differ on an If-Match completion over no object (SeaweedFS answers 404):
		// a refused condition is refused here first.
		if err := b.precheck(ctx, bucket, key, cond); err != nil {
			return storage.CompletedUpload{}, "", err
		}
	}
	w := &write{b: b, bucket: bucket, key: key, name: name, opts: cond}
	w.begin(ctx)
	out, err := b.s3.CompleteMultipartUpload(ctx, in)
	w.end()
	if err != nil {
		err = b.mapErr(err)
		if errors.Is(err, storage.ErrNoSuchUpload) {
			done, err := b.replayRacing(ctx, bucket, key, id, parts)
			return done, "", err
		}
		if apiCode(err) == "EntityTooSmall" {
			return storage.CompletedUpload{}, "", storage.ErrPartTooSmall
		}
		if opts.IfMatch != "" && notFound(err) {
			return storage.CompletedUpload{}, "", storage.ErrPreconditionFailed // removed meanwhile
		}
		return storage.CompletedUpload{}, "", w.fail(ctx, nil, err)
	}
	version := aws.ToString(out.VersionId)
	info, err := w.committed(ctx, version, trimETag(out.ETag), size)
	if err != nil {
		return storage.CompletedUpload{}, "", err
	}
	return storage.CompletedUpload{Object: info}, version, nil
}

// recordCompletion keeps what later calls need of a completed upload: the object's checksums
// (which the service does not carry), the record that answers a retried completion, and no
// more state of the upload. The object exists already: a failure here is logged, not
// returned.
func (b *Backend) recordCompletion(ctx context.Context, st uploadState, bucket, key, id, version string, parts []storage.CompletePart, info storage.ObjectInfo) {
	if len(info.Checksums) > 0 {
		data, _ := json.Marshal(info.Checksums)
		if err := b.putSmall(ctx, b.sumsName(version), data); err != nil {
			b.log.Warn("s3backend: recording the checksums of a completed upload", "upload", id, "err", err)
		}
	}
	record, _ := json.Marshal(doneRecord{Bucket: bucket, Key: key, Parts: partsSignature(parts), Object: info})
	if err := b.putSmall(ctx, b.doneName(id), record); err != nil {
		b.log.Warn("s3backend: recording a completion for retries", "upload", id, "err", err)
	}
	if err := b.forgetUpload(ctx, st, id); err != nil {
		b.log.Warn("s3backend: removing the records of a completed upload", "upload", id, "err", err)
	}
}

// partSet is what a service holds of an upload's parts: for each number, every upload of it
// the service kept (SeaweedFS keeps all until completion), and the node's records.
type partSet struct {
	entries map[int][]storage.PartInfo
	records map[int][]partRecordFields
}

// current is part n as it stands: the upload of the newest record of n that the service
// holds (or, without records, the one it listed last).
func (ps partSet) current(n int) (storage.PartInfo, bool) {
	var best *partRecordFields
	for i, r := range ps.records[n] {
		if best == nil || r.seq > best.seq {
			if _, ok := ps.withETag(n, r.etag); ok {
				best = &ps.records[n][i]
			}
		}
	}
	if best != nil {
		return ps.withETag(n, best.etag)
	}
	es := ps.entries[n]
	if len(es) == 0 {
		return storage.PartInfo{}, false
	}
	return es[len(es)-1], true
}

// withETag is the upload of part n with that ETag, with the checksums of its record.
func (ps partSet) withETag(n int, etag string) (storage.PartInfo, bool) {
	for _, e := range ps.entries[n] {
		if e.ETag != etag {
			continue
		}
		var seq uint64
		for _, r := range ps.records[n] {
			if r.etag == etag && r.seq >= seq {
				e.Checksums, seq = r.sums, r.seq
			}
		}
		return e, true
	}
	return storage.PartInfo{}, false
}

// numbers are the part numbers held, in order.
func (ps partSet) numbers() []int {
	return slices.Sorted(maps.Keys(ps.entries))
}

// storedParts reads what the service and the records hold of an upload's parts.
func (b *Backend) storedParts(ctx context.Context, name, id string) (partSet, error) {
	ps := partSet{entries: make(map[int][]storage.PartInfo)}
	var err error
	if ps.records, err = b.partRecords(ctx, id); err != nil {
		return partSet{}, err
	}
	in := &s3.ListPartsInput{Bucket: &b.bucket, Key: &name, UploadId: &id}
	for {
		out, err := b.s3.ListParts(ctx, in)
		if err != nil {
			err = b.mapErr(err)
			if errors.Is(err, storage.ErrNoSuchUpload) {
				return partSet{}, storage.ErrNoSuchUpload
			}
			return partSet{}, fmt.Errorf("parts of %s: %w", id, err)
		}
		for _, p := range out.Parts {
			info := partInfo(p)
			ps.entries[info.Number] = append(ps.entries[info.Number], info)
		}
		if !aws.ToBool(out.IsTruncated) {
			return ps, nil
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
}

func partInfo(p types.Part) storage.PartInfo {
	return storage.PartInfo{
		Number: int(aws.ToInt32(p.PartNumber)), Size: aws.ToInt64(p.Size),
		ETag: trimETag(p.ETag), LastModified: aws.ToTime(p.LastModified),
	}
}

// partRecords reads the records of an upload's parts, by part number.
func (b *Backend) partRecords(ctx context.Context, id string) (map[int][]partRecordFields, error) {
	dir := b.partsDir(id)
	records := make(map[int][]partRecordFields)
	err := b.scan(ctx, dir, "", func(e entry) (bool, string) {
		s, err := decodeKey(strings.TrimPrefix(e.name, dir))
		if err != nil {
			return true, ""
		}
		if r, ok := parsePartRecord(s); ok {
			records[r.number] = append(records[r.number], r)
		}
		return true, ""
	})
	if err != nil {
		return nil, fmt.Errorf("part records of %s: %w", id, err)
	}
	return records, nil
}

func (b *Backend) claimName(id string) string {
	return b.prefix + "_presign/completing/" + encodeKey(id)
}

// claimStale is how old a claim must be to be taken over: its node died completing.
const claimStale = time.Minute

// claimCompletion creates the upload's claim with If-None-Match: *, which the service applies
// atomically; false when another completion holds it.
func (b *Backend) claimCompletion(ctx context.Context, id string) (bool, error) {
	for attempt := 0; ; attempt++ {
		_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &b.bucket, Key: aws.String(b.claimName(id)), Body: strings.NewReader(""),
			ContentLength: aws.Int64(0), IfNoneMatch: aws.String("*"),
		})
		if err == nil {
			return true, nil
		}
		if err = b.mapErr(err); !errors.Is(err, storage.ErrPreconditionFailed) {
			return false, fmt.Errorf("complete %s: claim: %w", id, err)
		}
		if attempt > 0 {
			return false, nil
		}
		head, herr := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.claimName(id))})
		if herr != nil || b.now().Sub(aws.ToTime(head.LastModified)) < claimStale {
			return false, nil
		}
		if err := b.deleteNames(ctx, b.claimName(id)); err != nil {
			return false, fmt.Errorf("complete %s: taking over a stale claim: %w", id, err)
		}
	}
}
