package storagetest

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/iotest"

	"presign/storage"
)

// The multipart section of the contract, run for backends that implement storage.Multiparter.
// Most tests lower CompleteOptions.MinPartSize so that parts stay small; one keeps S3's 5 MiB.

var multipartTests = []namedTest{
	{"CompleteJoinsPartsInOrder", testMultipartComplete},
	{"FiveMiBMinimumExceptLastPart", testMultipartMinPartSize},
	{"ReuploadedPartReplacesOld", testMultipartReupload},
	{"UnlistedPartsAreDropped", testMultipartUnlisted},
	{"BadPartListsChangeNothing", testMultipartBadLists},
	{"RetriedCompleteReturnsFirstResult", testMultipartRetry},
	{"ConcurrentCompletesAgree", testMultipartConcurrentComplete},
	{"ParallelPartUploads", testMultipartParallelParts},
	{"FailedPartKeepsPrevious", testMultipartFailedPart},
	{"AbortRemovesUploadAndParts", testMultipartAbort},
	{"ConditionsCheckedAtCompletion", testMultipartConditions},
	{"MaxSizeBoundsTheObject", testMultipartMaxSize},
	{"ReplaceAndDeleteMultipartObject", testMultipartReplaceDelete},
	{"OpenMultipartObjectKeepsItsVersion", testMultipartOpenKeepsVersion},
	{"ChecksumsOfPartsAndObject", testMultipartChecksums},
	{"UncomputedChecksumIsRefused", testMultipartUncomputedChecksum},
	{"ListPartsPages", testMultipartListParts},
	{"ListUploadsOrderAndMarkers", testMultipartListUploads},
	{"MissingBucketOrUpload", testMultipartMissing},
}

// smallParts is a completion rule that lets parts of any size be followed by others.
var smallParts = storage.CompleteOptions{MinPartSize: 1}

// multiparter returns be as a Multiparter, or skips the test.
func multiparter(t *testing.T, be storage.Backend) storage.Multiparter {
	t.Helper()
	mp, ok := be.(storage.Multiparter)
	if !ok {
		t.Skip("backend does not implement storage.Multiparter")
	}
	return mp
}

func mustCreateUpload(t *testing.T, mp storage.Multiparter, key string, opts storage.MultipartOptions) storage.MultipartUpload {
	t.Helper()
	up, err := mp.CreateMultipartUpload(t.Context(), "bucket", key, opts)
	if err != nil {
		t.Fatalf("CreateMultipartUpload(%q): %v", key, err)
	}
	if up.UploadID == "" || up.Bucket != "bucket" || up.Key != key {
		t.Fatalf("CreateMultipartUpload(%q) = %+v", key, up)
	}
	return up
}

func mustUploadPart(t *testing.T, mp storage.Multiparter, up storage.MultipartUpload, n int, data []byte, compute ...string) storage.PartInfo {
	t.Helper()
	body := storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data)), Compute: compute})
	p, err := mp.UploadPart(t.Context(), up.Bucket, up.Key, up.UploadID, n, body)
	if err != nil {
		t.Fatalf("UploadPart(%d, %d bytes): %v", n, len(data), err)
	}
	if p.Number != n || p.Size != int64(len(data)) || p.ETag != md5Hex(data) {
		t.Fatalf("UploadPart(%d) = %+v, want size %d etag %s", n, p, len(data), md5Hex(data))
	}
	return p
}

func completeParts(ps ...storage.PartInfo) []storage.CompletePart {
	out := make([]storage.CompletePart, len(ps))
	for i, p := range ps {
		out[i] = storage.CompletePart{Number: p.Number, ETag: p.ETag}
	}
	return out
}

func mustComplete(t *testing.T, mp storage.Multiparter, up storage.MultipartUpload, parts []storage.CompletePart, opts storage.CompleteOptions) storage.ObjectInfo {
	t.Helper()
	done, err := mp.CompleteMultipartUpload(t.Context(), up.Bucket, up.Key, up.UploadID, parts, opts)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload(%d parts): %v", len(parts), err)
	}
	if done.Replayed {
		t.Fatalf("first CompleteMultipartUpload reports Replayed")
	}
	return done.Object
}

// multipartETag is the ETag S3 gives an object of these parts, computed here independently.
func multipartETag(parts ...[]byte) string {
	var all []byte
	for _, p := range parts {
		s := md5.Sum(p)
		all = append(all, s[:]...)
	}
	return fmt.Sprintf("%s-%d", md5Hex(all), len(parts))
}

// wantUploadGone fails t unless the upload is no longer in progress.
func wantUploadGone(t *testing.T, mp storage.Multiparter, up storage.MultipartUpload) {
	t.Helper()
	if _, err := mp.HeadMultipartUpload(t.Context(), up.Bucket, up.Key, up.UploadID); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("HeadMultipartUpload after the end: %v, want ErrNoSuchUpload", err)
	}
	if _, err := mp.ListParts(t.Context(), up.Bucket, up.Key, up.UploadID, storage.ListPartsOptions{}); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("ListParts after the end: %v, want ErrNoSuchUpload", err)
	}
	page, err := mp.ListMultipartUploads(t.Context(), up.Bucket, storage.ListUploadsOptions{})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range page.Uploads {
		if u.UploadID == up.UploadID {
			t.Errorf("ListMultipartUploads still lists %s", up.UploadID)
		}
	}
}

// wantParts fails t unless the upload holds parts of exactly these numbers.
func wantParts(t *testing.T, mp storage.Multiparter, up storage.MultipartUpload, numbers ...int) {
	t.Helper()
	page, err := mp.ListParts(t.Context(), up.Bucket, up.Key, up.UploadID, storage.ListPartsOptions{})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	var got []int
	for _, p := range page.Parts {
		got = append(got, p.Number)
	}
	if !slices.Equal(got, numbers) {
		t.Fatalf("ListParts numbers = %v, want %v", got, numbers)
	}
}

func testMultipartComplete(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	key := "videos/a b/ünï.mp4"
	up := mustCreateUpload(t, mp, key, storage.MultipartOptions{Meta: fullMeta})
	p1, p2, p3 := content("p1", 300<<10+1), content("p2", 70<<10), content("p3", 3)
	// Parts arrive in any order.
	i3 := mustUploadPart(t, mp, up, 3, p3)
	i1 := mustUploadPart(t, mp, up, 1, p1)
	i2 := mustUploadPart(t, mp, up, 2, p2)
	if _, err := be.HeadObject(t.Context(), "bucket", key); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("HeadObject before completion: %v, want ErrNoSuchKey", err)
	}
	info := mustComplete(t, mp, up, completeParts(i1, i2, i3), smallParts)
	whole := slices.Concat(p1, p2, p3)
	if info.ETag != multipartETag(p1, p2, p3) || info.Size != int64(len(whole)) || info.Key != key || info.Sequencer == 0 {
		t.Fatalf("completed %+v, want ETag %s size %d", info, multipartETag(p1, p2, p3), len(whole))
	}
	got, data := mustGet(t, be, "bucket", key)
	if !bytes.Equal(data, whole) {
		t.Fatalf("read back %d bytes (md5 %s), want %d (md5 %s)", len(data), md5Hex(data), len(whole), md5Hex(whole))
	}
	if got.ETag != info.ETag || !metaEqual(got.Meta, fullMeta) {
		t.Fatalf("GetObject info %+v, want ETag %s and the upload's metadata", got, info.ETag)
	}
	// Ranges within a part, across part boundaries, and the empty range at the end.
	obj, err := be.GetObject(t.Context(), "bucket", key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	for _, r := range [][2]int{{0, 1}, {100, 1000}, {len(p1) - 5, 10}, {len(p1) - 1, len(p2) + 2}, {len(whole) - 2, 2}, {len(whole), 0}, {0, len(whole)}} {
		rc, err := obj.Range(t.Context(), int64(r[0]), int64(r[1]))
		if err != nil {
			t.Fatalf("Range(%d, %d): %v", r[0], r[1], err)
		}
		// Through Read only, and through WriteTo when the reader has it.
		var viaRead, viaCopy bytes.Buffer
		if _, err := io.Copy(&viaRead, onlyReader{rc}); err != nil {
			t.Fatalf("Range(%d, %d) read: %v", r[0], r[1], err)
		}
		rc.Close()
		rc, _ = obj.Range(t.Context(), int64(r[0]), int64(r[1]))
		if _, err := io.Copy(onlyWriter{&viaCopy}, rc); err != nil {
			t.Fatalf("Range(%d, %d) copy: %v", r[0], r[1], err)
		}
		rc.Close()
		want := whole[r[0] : r[0]+r[1]]
		if !bytes.Equal(viaRead.Bytes(), want) || !bytes.Equal(viaCopy.Bytes(), want) {
			t.Fatalf("Range(%d, %d) gave %d / %d bytes that differ from the object's", r[0], r[1], viaRead.Len(), viaCopy.Len())
		}
	}
	if keys := listAll(t, be, "bucket"); !slices.Equal(keys, []string{key}) {
		t.Fatalf("listing = %q, want the completed key", keys)
	}
	wantUploadGone(t, mp, up)
}

func testMultipartMinPartSize(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "big", storage.MultipartOptions{})
	small := mustUploadPart(t, mp, up, 1, content("small", storage.MinPartSize-1))
	full := mustUploadPart(t, mp, up, 2, content("full", storage.MinPartSize))
	last := mustUploadPart(t, mp, up, 3, content("last", 1))
	_, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "big", up.UploadID, completeParts(small, full, last), storage.CompleteOptions{})
	if !errors.Is(err, storage.ErrPartTooSmall) {
		t.Fatalf("completing with a first part of 5 MiB - 1: %v, want ErrPartTooSmall", err)
	}
	wantParts(t, mp, up, 1, 2, 3)
	wantMissing(t, be, "bucket", "big")
	// Dropping the small part leaves a 5 MiB part followed by a last part of one byte.
	info := mustComplete(t, mp, up, completeParts(full, last), storage.CompleteOptions{})
	want := slices.Concat(content("full", storage.MinPartSize), content("last", 1))
	if info.Size != int64(len(want)) {
		t.Fatalf("completed size %d, want %d", info.Size, len(want))
	}
	if _, data := mustGet(t, be, "bucket", "big"); !bytes.Equal(data, want) {
		t.Fatalf("read back %d bytes that differ from the parts", len(data))
	}
}

func testMultipartReupload(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	mustUploadPart(t, mp, up, 1, content("old", 100<<10))
	p1 := mustUploadPart(t, mp, up, 1, content("new", 90<<10))
	p2 := mustUploadPart(t, mp, up, 2, content("two", 10))
	wantParts(t, mp, up, 1, 2)
	mustComplete(t, mp, up, completeParts(p1, p2), smallParts)
	if _, data := mustGet(t, be, "bucket", "k"); !bytes.Equal(data, slices.Concat(content("new", 90<<10), content("two", 10))) {
		t.Fatal("the object does not hold the re-uploaded part")
	}
}

func testMultipartUnlisted(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 1000))
	mustUploadPart(t, mp, up, 2, content("2", 1000))
	p7 := mustUploadPart(t, mp, up, 7, content("7", 5))
	mustUploadPart(t, mp, up, 9, content("9", 5))
	info := mustComplete(t, mp, up, completeParts(p1, p7), smallParts)
	if info.ETag != multipartETag(content("1", 1000), content("7", 5)) {
		t.Fatalf("ETag %s counts parts that were not listed", info.ETag)
	}
	wantContentBytes(t, be, "k", slices.Concat(content("1", 1000), content("7", 5)))
}

// wantContentBytes fails t unless bucket/key holds data (the ETag is not checked).
func wantContentBytes(t *testing.T, be storage.Backend, key string, data []byte) {
	t.Helper()
	if _, got := mustGet(t, be, "bucket", key); !bytes.Equal(got, data) {
		t.Fatalf("%q holds %d bytes (md5 %s), want %d (md5 %s)", key, len(got), md5Hex(got), len(data), md5Hex(data))
	}
}

func testMultipartBadLists(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{ChecksumAlgorithm: "CRC32C", ChecksumType: storage.ChecksumComposite})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 2000), "CRC32C")
	p2 := mustUploadPart(t, mp, up, 2, content("2", 2000), "CRC32C")
	p3 := mustUploadPart(t, mp, up, 3, content("3", 20), "CRC32C")
	wrongETag := completeParts(p1, p2)
	wrongETag[1].ETag = md5Hex([]byte("other"))
	wrongSum := completeParts(p1, p2)
	wrongSum[0].Checksums = map[string]string{"CRC32C": "AAAAAA=="}
	tests := []struct {
		name  string
		parts []storage.CompletePart
		want  error
	}{
		{"NoParts", nil, storage.ErrInvalidPart},
		{"Descending", completeParts(p2, p1), storage.ErrInvalidPartOrder},
		{"Duplicate", completeParts(p1, p1, p2), storage.ErrInvalidPartOrder},
		{"NotUploaded", []storage.CompletePart{{Number: 1, ETag: p1.ETag}, {Number: 4, ETag: p1.ETag}}, storage.ErrInvalidPart},
		{"WrongETag", wrongETag, storage.ErrInvalidPart},
		{"WrongChecksum", wrongSum, storage.ErrInvalidPart},
		{"NumberOutOfRange", []storage.CompletePart{{Number: storage.MaxParts + 1, ETag: p1.ETag}}, storage.ErrInvalidPart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, tc.parts, smallParts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			wantMissing(t, be, "bucket", "k")
			wantParts(t, mp, up, 1, 2, 3)
		})
	}
	// The upload is intact: the right list completes it.
	mustComplete(t, mp, up, completeParts(p1, p2, p3), smallParts)
}

func testMultipartRetry(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 1000))
	p2 := mustUploadPart(t, mp, up, 2, content("2", 10))
	first := mustComplete(t, mp, up, completeParts(p1, p2), smallParts)
	again, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1, p2), smallParts)
	if err != nil || !again.Replayed || again.Object.ETag != first.ETag || again.Object.Sequencer != first.Sequencer || again.Object.Size != first.Size {
		t.Fatalf("retried completion = %+v, %v; want Replayed with ETag %s, sequencer %d", again, err, first.ETag, first.Sequencer)
	}
	// A retry after the object was replaced still answers as the first completion did, and
	// changes nothing.
	mustPut(t, be, "bucket", "k", []byte("newer"), storage.PutOptions{})
	again, err = mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1, p2), smallParts)
	if err != nil || !again.Replayed || again.Object.ETag != first.ETag {
		t.Fatalf("retry after a replace = %+v, %v", again, err)
	}
	wantContent(t, be, "bucket", "k", []byte("newer"))
	for name, call := range map[string]func() error{
		"OtherParts": func() error {
			_, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1), smallParts)
			return err
		},
		"OtherKey": func() error {
			_, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "other", up.UploadID, completeParts(p1, p2), smallParts)
			return err
		},
	} {
		if err := call(); !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Errorf("%s: %v, want ErrNoSuchUpload", name, err)
		}
	}
}

func testMultipartConcurrentComplete(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 100<<10))
	p2 := mustUploadPart(t, mp, up, 2, content("2", 10))
	const callers = 8
	results := make([]storage.CompletedUpload, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			results[i], errs[i] = mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1, p2), smallParts)
		})
	}
	wg.Wait()
	firsts := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("completion %d: %v", i, errs[i])
		}
		if results[i].Object.ETag != results[0].Object.ETag || results[i].Object.Sequencer != results[0].Object.Sequencer {
			t.Fatalf("completions disagree: %+v and %+v", results[i].Object, results[0].Object)
		}
		if !results[i].Replayed {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d completions report that they made the object, want exactly 1", firsts)
	}
	wantContentBytes(t, be, "k", slices.Concat(content("1", 100<<10), content("2", 10)))
}

func testMultipartParallelParts(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	const parts = 24
	infos := make([]storage.PartInfo, parts)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() {
			data := content(fmt.Sprint(i), 64<<10+i*1000)
			body := storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))})
			p, err := mp.UploadPart(t.Context(), "bucket", "k", up.UploadID, i+1, body)
			if err != nil {
				t.Errorf("UploadPart(%d): %v", i+1, err)
			}
			infos[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	mustComplete(t, mp, up, completeParts(infos...), smallParts)
	var want []byte
	for i := range parts {
		want = append(want, content(fmt.Sprint(i), 64<<10+i*1000)...)
	}
	wantContentBytes(t, be, "k", want)
}

func testMultipartFailedPart(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	good := mustUploadPart(t, mp, up, 1, content("good", 300<<10))
	broken := io.MultiReader(bytes.NewReader(content("bad", 200<<10)), iotest.ErrReader(errBodyBroken))
	_, err := mp.UploadPart(t.Context(), "bucket", "k", up.UploadID, 1, storage.NewBody(broken, storage.BodyOptions{Size: 400 << 10}))
	if !errors.Is(err, errBodyBroken) {
		t.Fatalf("UploadPart with a failing body: %v, want the body's error", err)
	}
	short := storage.NewBody(bytes.NewReader(content("short", 10)), storage.BodyOptions{Size: 11})
	if _, err := mp.UploadPart(t.Context(), "bucket", "k", up.UploadID, 2, short); !errors.Is(err, storage.ErrIncompleteBody) {
		t.Fatalf("UploadPart with a short body: %v, want ErrIncompleteBody", err)
	}
	page, err := mp.ListParts(t.Context(), "bucket", "k", up.UploadID, storage.ListPartsOptions{})
	if err != nil || len(page.Parts) != 1 || page.Parts[0].ETag != good.ETag {
		t.Fatalf("after failed uploads, parts = %+v, %v; want only the first good part", page.Parts, err)
	}
}

func testMultipartAbort(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 300<<10))
	if err := mp.AbortMultipartUpload(t.Context(), "bucket", "k", up.UploadID); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	wantUploadGone(t, mp, up)
	if err := mp.AbortMultipartUpload(t.Context(), "bucket", "k", up.UploadID); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("second abort: %v, want ErrNoSuchUpload", err)
	}
	if _, err := mp.UploadPart(t.Context(), "bucket", "k", up.UploadID, 2, newBody([]byte("x"))); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("UploadPart after abort: %v, want ErrNoSuchUpload", err)
	}
	if _, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1), smallParts); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("Complete after abort: %v, want ErrNoSuchUpload", err)
	}
	wantMissing(t, be, "bucket", "k")
	// The bucket holds nothing and can go.
	if err := be.DeleteBucket(t.Context(), "bucket"); err != nil {
		t.Fatalf("DeleteBucket after abort: %v", err)
	}
}
