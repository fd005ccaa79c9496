package s3backend

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

func putString(t *testing.T, b *Backend, key, v string) storage.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(t.Context(), "bucket", key, storage.NewBody(bytes.NewReader([]byte(v)), storage.BodyOptions{Size: int64(len(v))}), storage.PutOptions{})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return info
}

// versionsOf lists what the service keeps of key's name: "v" for a version, "m" for a delete
// marker, newest first.
func versionsOf(t *testing.T, b *Backend, key string) []string {
	t.Helper()
	name, _ := b.objectName("bucket", key)
	out, err := b.s3.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: &b.bucket, Prefix: &name})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == name {
			kinds = append(kinds, "v")
		}
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == name {
			kinds = append(kinds, "m")
		}
	}
	return kinds
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A replaced or deleted version stays readable for an open Object during the grace period and
// is removed after it; the sweep then removes the delete marker left alone.
func TestSupersededVersionsRemovedAfterGrace(t *testing.T) {
	b := openTest(t, Options{VersionGrace: 2 * time.Second})
	if err := b.CreateBucket(t.Context(), "bucket"); err != nil {
		t.Fatal(err)
	}
	putString(t, b, "k", "v1")
	obj, err := b.GetObject(t.Context(), "bucket", "k")
	if err != nil {
		t.Fatal(err)
	}
	putString(t, b, "k", "v2")
	if _, err := b.DeleteObject(t.Context(), "bucket", "k"); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, obj); got != "v1" {
		t.Fatalf("open Object within the grace period read %q, want v1", got)
	}
	if got := versionsOf(t, b, "k"); !slices.Equal(got, []string{"v", "v", "m"}) {
		t.Fatalf("service keeps %v of the key right after the changes", got)
	}
	waitFor(t, "the superseded versions are removed", func() bool { return slices.Equal(versionsOf(t, b, "k"), []string{"m"}) })
	// The marker goes once its own grace has surely passed: SeaweedFS lists whole seconds.
	waitFor(t, "a sweep removes the delete marker left alone", func() bool {
		if err := b.reaper.sweep(t.Context()); err != nil {
			t.Fatalf("sweep: %v", err)
		}
		return len(versionsOf(t, b, "k")) == 0
	})
}

// The sweep removes what no node queued: versions superseded by writes of another node, or
// before a restart. It never removes a current version.
func TestSweepRemovesUnqueuedVersions(t *testing.T) {
	b := openTest(t, Options{VersionGrace: time.Second})
	if err := b.CreateBucket(t.Context(), "bucket"); err != nil {
		t.Fatal(err)
	}
	name, _ := b.objectName("bucket", "raced")
	for _, v := range []string{"1", "2", "3"} {
		// Written past this node, as another node's would be.
		if _, err := b.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &b.bucket, Key: &name, Body: bytes.NewReader([]byte(v))}); err != nil {
			t.Fatal(err)
		}
	}
	putString(t, b, "kept", "only version")
	if err := b.reaper.sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(t, b, "raced"); len(got) != 3 {
		t.Fatalf("a sweep within the grace period left %v, want all 3 versions", got)
	}
	time.Sleep(2100 * time.Millisecond)
	if err := b.reaper.sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(t, b, "raced"); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("after the grace period the sweep left %v, want the current version", got)
	}
	if got := string(readObject(t, b, "raced")); got != "3" {
		t.Fatalf("current version reads %q, want 3", got)
	}
	if got := string(readObject(t, b, "kept")); got != "only version" {
		t.Fatalf("a sole version reads %q", got)
	}
}

func readRange(t *testing.T, obj storage.Object) string {
	t.Helper()
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestLastInstantCoversTheWholeListedSecond(t *testing.T) {
	whole := time.Date(2026, 12, 5, 10, 0, 10, 0, time.UTC)
	precise := time.Date(2026, 12, 5, 10, 0, 10, 250_000_000, time.UTC)
	for _, tc := range []struct {
		listed, want time.Time
	}{
		{whole, whole.Add(time.Second - time.Nanosecond)},
		{precise, precise},
	} {
		if got := lastInstant(tc.listed); !got.Equal(tc.want) {
			t.Errorf("lastInstant(%v) = %v, want %v", tc.listed, got, tc.want)
		}
	}
}
