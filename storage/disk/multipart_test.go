package disk

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

// Helpers on bucket "b" (see withBucket).

func createUpload(t testing.TB, b *Backend, key string) storage.MultipartUpload {
	t.Helper()
	up, err := b.CreateMultipartUpload(t.Context(), "b", key, storage.MultipartOptions{})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	return up
}

func uploadPart(t testing.TB, b *Backend, up storage.MultipartUpload, n int, data []byte) storage.CompletePart {
	t.Helper()
	p, err := b.UploadPart(t.Context(), "b", up.Key, up.UploadID, n, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}))
	if err != nil {
		t.Fatalf("UploadPart(%d): %v", n, err)
	}
	return storage.CompletePart{Number: n, ETag: p.ETag}
}

func complete(t testing.TB, b *Backend, up storage.MultipartUpload, parts ...storage.CompletePart) storage.CompletedUpload {
	t.Helper()
	done, err := b.CompleteMultipartUpload(t.Context(), "b", up.Key, up.UploadID, parts, storage.CompleteOptions{MinPartSize: 1})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	return done
}

// FuzzParsePieces: no input makes parsePieces panic, and what it accepts encodes to
// pieces that parse the same.
func FuzzParsePieces(f *testing.F) {
	f.Add(appendPieces(nil, []piece{{"0000000000000003aabbccddeeff001122334455", 7}}), int64(7))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, int64(0))
	f.Fuzz(func(t *testing.T, tail []byte, size int64) {
		pieces, err := parsePieces(tail, size)
		if err != nil {
			return
		}
		again, err := parsePieces(appendPieces(nil, pieces), size)
		if err != nil || !slices.Equal(again, pieces) {
			t.Fatalf("pieces %+v re-encode to %+v (%v)", pieces, again, err)
		}
	})
}

func TestRecordVersion1StaysReadable(t *testing.T) {
	rec := record{size: 5, seq: 9, modified: time.Unix(0, 42).UTC(), etag: "e", meta: storage.Metadata{ContentType: "a/b"}}
	v2 := rec.encode(nil, []byte("hello"))
	v1 := slices.Clone(v2)
	v1[0] = recordVersionV1 // the two versions encode inline and file records alike
	got, tail, err := decodeRecord(v1)
	if err != nil || !reflect.DeepEqual(got, rec) || string(tail) != "hello" {
		t.Fatalf("version 1 inline record decoded to %+v %q, %v", got, tail, err)
	}
	rec.multipart, rec.size = true, 0
	mp := rec.encode(nil, appendPieces(nil, nil))
	mp[0] = recordVersionV1
	if _, _, err := decodeRecord(mp); !errors.Is(err, errCorrupt) {
		t.Fatalf("a version 1 record of kind multipart decoded: %v", err)
	}
}

func TestMultipartRecordRoundTrip(t *testing.T) {
	pieces := []piece{
		{"0000000000000003aabbccddeeff001122334455", 5 << 20},
		{"00000000000000ff0123456789abcdef01234567", 1},
		{"0000000000000003aabbccddeeff001122334466", 0},
	}
	rec := record{size: 5<<20 + 1, seq: 7, modified: time.Unix(1, 2).UTC(), etag: "x-3", multipart: true,
		checksums: map[string]string{"CRC32": "AAAAAA==-3"}}
	tail := appendPieces(nil, pieces)
	if len(tail) > piecesLen(len(pieces)) {
		t.Fatalf("pieces took %d bytes, piecesLen promised %d", len(tail), piecesLen(len(pieces)))
	}
	enc := rec.encode(nil, tail)
	got, gotTail, err := decodeRecord(enc)
	if err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, rec)
	}
	gotPieces, err := parsePieces(gotTail, rec.size)
	if err != nil || !reflect.DeepEqual(gotPieces, pieces) {
		t.Fatalf("pieces %+v, %v; want %+v", gotPieces, err, pieces)
	}
	files, err := got.files(gotTail)
	if err != nil || len(files) != 3 || files[1] != pieces[1].file {
		t.Fatalf("files = %q, %v", files, err)
	}
	if _, err := parsePieces(gotTail, rec.size+1); err == nil {
		t.Fatal("pieces whose sizes do not add up to the record's were accepted")
	}
	for cut := range len(tail) {
		if _, err := parsePieces(tail[:cut], rec.size); err == nil {
			t.Fatalf("pieces cut to %d of %d bytes were accepted", cut, len(tail))
		}
	}
}

// TestPartFilesFollowTheirUpload checks, through the files on disk, that a replaced part, the
// unlisted parts of a completion, an aborted upload and a replaced multipart object leave
// nothing behind, while the completed object keeps exactly its parts' files, not copies.
func TestPartFilesFollowTheirUpload(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	dir := b.dir
	up := createUpload(t, b, "k")
	uploadPart(t, b, up, 1, []byte("first try"))
	if n := len(objectFiles(t, dir)); n != 1 {
		t.Fatalf("%d files after one part, want 1", n)
	}
	p1 := uploadPart(t, b, up, 1, bytes.Repeat([]byte("1"), 100<<10))
	p2 := uploadPart(t, b, up, 2, []byte("two"))
	uploadPart(t, b, up, 3, []byte("unlisted"))
	if n := len(objectFiles(t, dir)); n != 3 {
		t.Fatalf("%d files after replacing part 1 and adding 2 and 3, want 3", n)
	}
	before := objectFiles(t, dir)
	complete(t, b, up, p1, p2)
	after := objectFiles(t, dir)
	if len(after) != 2 || !slices.Contains(before, after[0]) || !slices.Contains(before, after[1]) {
		t.Fatalf("completion left files %q; want two of the part files %q", after, before)
	}
	aborted := createUpload(t, b, "other")
	uploadPart(t, b, aborted, 1, []byte("x"))
	if err := b.AbortMultipartUpload(t.Context(), "b", "other", aborted.UploadID); err != nil {
		t.Fatal(err)
	}
	putBytes(t, b, "k", []byte("replaced by a small object"))
	if files := objectFiles(t, dir); len(files) != 0 {
		t.Fatalf("files left after abort and replace: %q", files)
	}
}

func TestOpenMultipartObjectDefersRemoval(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	up := createUpload(t, b, "k")
	want := bytes.Repeat([]byte("ab"), 200<<10)
	complete(t, b, up, uploadPart(t, b, up, 1, want[:300<<10]), uploadPart(t, b, up, 2, want[300<<10:]))
	obj, err := b.GetObject(t.Context(), "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeleteObject(t.Context(), "b", "k"); err != nil {
		t.Fatal(err)
	}
	if n := len(objectFiles(t, b.dir)); n != 2 {
		t.Fatalf("%d part files on disk while the deleted object is open, want 2", n)
	}
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes (%v) of the open object, want its %d", got.Len(), err, len(want))
	}
	rc.Close()
	obj.Close()
	if files := objectFiles(t, b.dir); len(files) != 0 {
		t.Fatalf("files left after the open object was closed: %q", files)
	}
}

func TestAbandonedUploadsAreSwept(t *testing.T) {
	t.Run("ByAge", func(t *testing.T) {
		b := withBucket(t, openChecked(t, Options{MultipartExpiry: time.Hour}))
		old := createUpload(t, b, "old")
		uploadPart(t, b, old, 1, []byte("x"))
		start := time.Now()
		if n, err := b.sweepUploadsOnce(start.Add(59 * time.Minute)); n != 0 || err != nil {
			t.Fatalf("sweep before the expiry dropped %d entries (%v)", n, err)
		}
		if n, err := b.sweepUploadsOnce(start.Add(61 * time.Minute)); n != 1 || err != nil {
			t.Fatalf("sweep after the expiry dropped %d entries (%v), want 1", n, err)
		}
		if _, err := b.HeadMultipartUpload(t.Context(), "b", "old", old.UploadID); !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Fatalf("swept upload: %v, want ErrNoSuchUpload", err)
		}
		if files := objectFiles(t, b.dir); len(files) != 0 {
			t.Fatalf("swept upload left files %q", files)
		}
	})
	t.Run("InTheBackground", func(t *testing.T) {
		b := withBucket(t, openChecked(t, Options{MultipartExpiry: 200 * time.Millisecond}))
		up := createUpload(t, b, "k")
		uploadPart(t, b, up, 1, []byte("x"))
		deadline := time.Now().Add(20 * time.Second)
		for {
			// The sweep removes the part files just after its commit drops the upload.
			_, err := b.HeadMultipartUpload(t.Context(), "b", "k", up.UploadID)
			if errors.Is(err, storage.ErrNoSuchUpload) && len(objectFiles(t, b.dir)) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload or its part still there 20 s after its 200 ms expiry (%v)", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestCompletionMemoLastsADay(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	up := createUpload(t, b, "k")
	parts := []storage.CompletePart{uploadPart(t, b, up, 1, []byte("x"))}
	first := complete(t, b, up, parts...)
	retry := func() error {
		done, err := b.CompleteMultipartUpload(t.Context(), "b", "k", up.UploadID, parts, storage.CompleteOptions{})
		if err == nil && (!done.Replayed || done.Object.ETag != first.Object.ETag) {
			t.Fatalf("retry = %+v, want a replay of %+v", done, first.Object)
		}
		return err
	}
	if _, err := b.sweepUploadsOnce(time.Now().Add(23 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := retry(); err != nil {
		t.Fatalf("retry within the day: %v", err)
	}
	if n, err := b.sweepUploadsOnce(time.Now().Add(25 * time.Hour)); n != 1 || err != nil {
		t.Fatalf("sweep a day later dropped %d entries (%v), want the memo", n, err)
	}
	if err := retry(); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Fatalf("retry after the memo expired: %v, want ErrNoSuchUpload", err)
	}
}

func TestMultipartSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := withBucket(t, openTest(t, Options{Dir: dir}))
	up := createUpload(t, b, "k")
	p1 := uploadPart(t, b, up, 1, bytes.Repeat([]byte("1"), 100<<10))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The start-up scan runs on a later epoch than the part files: it must keep them.
	b = openTest(t, Options{Dir: dir})
	<-b.scanDone
	p2 := uploadPart(t, b, up, 2, []byte("2"))
	page, err := b.ListParts(t.Context(), "b", "k", up.UploadID, storage.ListPartsOptions{})
	if err != nil || len(page.Parts) != 2 {
		t.Fatalf("parts after restart = %+v, %v", page.Parts, err)
	}
	first := complete(t, b, up, p1, p2)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openChecked(t, Options{Dir: dir})
	<-b.scanDone
	want := append(bytes.Repeat([]byte("1"), 100<<10), '2')
	if got := readBytes(t, b, "k"); !bytes.Equal(got, want) {
		t.Fatalf("after restart the object holds %d bytes, want %d", len(got), len(want))
	}
	done, err := b.CompleteMultipartUpload(t.Context(), "b", "k", up.UploadID, []storage.CompletePart{p1, p2}, storage.CompleteOptions{MinPartSize: 1})
	if err != nil || !done.Replayed || done.Object.ETag != first.Object.ETag {
		t.Fatalf("retried completion after restart = %+v, %v", done, err)
	}
}

func TestDeleteBucketAbortsItsUploads(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	for i := range 3 {
		up := createUpload(t, b, fmt.Sprint(i))
		uploadPart(t, b, up, 1, []byte("x"))
	}
	if err := b.DeleteBucket(t.Context(), "b"); err != nil {
		t.Fatalf("DeleteBucket with uploads in progress: %v", err)
	}
	if files := objectFiles(t, b.dir); len(files) != 0 {
		t.Fatalf("files left after DeleteBucket: %q", files)
	}
	withBucket(t, b)
	page, err := b.ListMultipartUploads(t.Context(), "b", storage.ListUploadsOptions{})
	if err != nil || len(page.Uploads) != 0 {
		t.Fatalf("uploads of a re-created bucket = %+v, %v", page.Uploads, err)
	}
}

// BenchmarkCompleteMultipartUpload1000Parts times the completion of an upload of 1,000 parts
// (the parts are uploaded outside the timer). Completion reads part entries and writes one
// record: its cost does not depend on the parts' sizes, so the parts are tiny. Run with a
// small -benchtime such as 5x: each iteration uploads 1,000 parts first.
func BenchmarkCompleteMultipartUpload1000Parts(b *testing.B) {
	const parts = 1000
	be := withBucket(b, openTest(b, Options{}))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		up := createUpload(b, be, fmt.Sprint(i))
		list := make([]storage.CompletePart, parts)
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Go(func() {
				for n := w + 1; n <= parts; n += 32 {
					list[n-1] = uploadPart(b, be, up, n, []byte(fmt.Sprint(n)))
				}
			})
		}
		wg.Wait()
		b.StartTimer()
		done := complete(b, be, up, list...)
		if done.Object.Size == 0 {
			b.Fatal("empty object")
		}
	}
}
