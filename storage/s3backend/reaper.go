package s3backend

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The bucket keeps versions so that an open Object can finish reading its version after a
// replace or delete. A version so superseded is removed once Options.VersionGrace has passed:
// the node that superseded it queues it (in memory), and a sweep of the whole bucket every
// Options.SweepInterval removes what no queue did (after a restart, when the queue overflowed,
// or when writes of several nodes raced). Delete markers are left to the sweep, which removes
// one only when no older version of its name remains, so that removing it never brings an old
// version back.

// maxQueued bounds the versions a node remembers to remove; beyond it they wait for a sweep.
const maxQueued = 1 << 20

type doomed struct {
	name, version string
	due           time.Time
}

type reaper struct {
	b     *Backend
	mu    sync.Mutex
	queue []doomed // in due order: every entry waits the same grace
	wake  chan struct{}
}

func newReaper(b *Backend) *reaper {
	return &reaper{b: b, wake: make(chan struct{}, 1)}
}

// superseded queues the removal of version old of name, which version now replaced.
func (r *reaper) superseded(name, old, now string) {
	if old == "" || old == now || old == "null" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) < maxQueued {
		r.queue = append(r.queue, doomed{name: name, version: old, due: r.b.now().Add(r.b.opts.VersionGrace)})
	}
}

// remove queues the removal of a version at once.
func (r *reaper) remove(name, version string) {
	if version == "" {
		return
	}
	r.mu.Lock()
	r.queue = slices.Insert(r.queue, 0, doomed{name: name, version: version})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run removes queued versions as they fall due, and sweeps, until ctx ends.
func (r *reaper) run(ctx context.Context) {
	tick := time.NewTicker(min(time.Second, r.b.opts.VersionGrace/4+time.Millisecond))
	defer tick.Stop()
	var sweep <-chan time.Time
	if r.b.opts.SweepInterval > 0 {
		t := time.NewTicker(r.b.opts.SweepInterval)
		defer t.Stop()
		sweep = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.wake:
		case <-sweep:
			if err := r.sweep(ctx); err != nil && ctx.Err() == nil {
				r.b.log.Warn("s3backend: sweeping superseded versions", "err", err)
			}
			if err := r.b.expireUploads(ctx); err != nil && ctx.Err() == nil {
				r.b.log.Warn("s3backend: sweeping expired uploads", "err", err)
			}
		}
		r.removeDue(ctx)
	}
}

func (r *reaper) removeDue(ctx context.Context) {
	now := r.b.now()
	for ctx.Err() == nil {
		r.mu.Lock()
		if len(r.queue) == 0 || r.queue[0].due.After(now) {
			r.mu.Unlock()
			return
		}
		d := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		if err := r.b.deleteVersion(ctx, d.name, d.version); err != nil && ctx.Err() == nil {
			r.b.log.Warn("s3backend: removing a superseded version", "name", d.name, "version", d.version, "err", err)
		}
	}
}

// version is one version of a name, or a delete marker, as a version listing reports it.
type version struct {
	id           string
	lastModified time.Time
	latest       bool
	marker       bool
}

// sweep removes, bucket-wide, the versions superseded for longer than the grace period, and
// the delete markers left with no older version.
func (r *reaper) sweep(ctx context.Context) error {
	in := &s3.ListObjectVersionsInput{Bucket: &r.b.bucket, Prefix: aws.String(r.b.prefix)}
	var name string
	var group []version
	for {
		out, err := r.b.s3.ListObjectVersions(ctx, in)
		if err != nil {
			return r.b.mapErr(err)
		}
		type item struct {
			name string
			v    version
		}
		var items []item
		for _, v := range out.Versions {
			items = append(items, item{aws.ToString(v.Key), version{aws.ToString(v.VersionId), lastInstant(aws.ToTime(v.LastModified)), aws.ToBool(v.IsLatest), false}})
		}
		for _, m := range out.DeleteMarkers {
			items = append(items, item{aws.ToString(m.Key), version{aws.ToString(m.VersionId), lastInstant(aws.ToTime(m.LastModified)), aws.ToBool(m.IsLatest), true}})
		}
		slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(a.name, b.name) })
		for _, it := range items {
			if it.name != name {
				r.reap(ctx, name, group)
				name, group = it.name, group[:0]
			}
			group = append(group, it.v)
		}
		if !aws.ToBool(out.IsTruncated) {
			r.reap(ctx, name, group)
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// lastInstant is the latest moment a service's LastModified may stand for, which is what the
// sweep reads it as. Listings give whole seconds, truncated: a version superseded at 10.9 s
// lists as 10 s, and measured from there it would lose up to a second of its grace. Shifting
// every time of a listing alike keeps their order.
func lastInstant(t time.Time) time.Time {
	if t.Nanosecond() == 0 {
		return t.Add(time.Second - time.Nanosecond)
	}
	return t
}

// reap removes what is due of the versions of one name.
func (r *reaper) reap(ctx context.Context, name string, group []version) {
	if len(group) == 0 {
		return
	}
	cutoff := r.b.now().Add(-r.b.opts.VersionGrace)
	left := 0
	var latestMarker *version
	for i := range group {
		v := &group[i]
		if v.latest {
			if v.marker {
				latestMarker = v
			}
			continue
		}
		// Superseded when the next newer entry was written; with the second-granular times
		// of some services, the earliest entry not older than v stands for it.
		var succ time.Time
		for _, o := range group {
			if o.id != v.id && !o.lastModified.Before(v.lastModified) && (succ.IsZero() || o.lastModified.Before(succ)) {
				succ = o.lastModified
			}
		}
		if succ.IsZero() || succ.After(cutoff) || r.b.deleteVersion(ctx, name, v.id) != nil {
			left++
		}
	}
	if latestMarker == nil && strings.HasPrefix(name, r.b.prefix+"_presign/done/") {
		// A completion record past the time retries are answered from it.
		for _, v := range group {
			if v.latest && v.lastModified.Before(r.b.now().Add(-doneKeep)) {
				if err := r.b.deleteNames(ctx, name); err != nil && ctx.Err() == nil {
					r.b.log.Warn("s3backend: removing a completion record", "name", name, "err", err)
				}
			}
		}
	}
	if latestMarker != nil && left == 0 && latestMarker.lastModified.Before(cutoff) {
		if err := r.b.deleteVersion(ctx, name, latestMarker.id); err != nil && ctx.Err() == nil {
			r.b.log.Warn("s3backend: removing a delete marker", "name", name, "err", err)
		}
	}
}

// deleteVersion removes one version of a name for good.
func (b *Backend) deleteVersion(ctx context.Context, name, id string) error {
	_, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &name, VersionId: &id})
	if err != nil && !notFound(err) {
		return b.mapErr(err)
	}
	if !strings.HasPrefix(name, b.prefix+"_presign/") {
		// The checksums of the version, if it was a completed multipart upload.
		return b.deleteNames(ctx, b.sumsName(id))
	}
	return nil
}

// currentVersion is the version id of name's current version, or "" when there is none or
// the service does not say.
func (b *Backend) currentVersion(ctx context.Context, name string) string {
	out, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		return ""
	}
	return aws.ToString(out.VersionId)
}
