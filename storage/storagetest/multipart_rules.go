package storagetest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"

	"presign/sigv4"
	"presign/storage"
)

func testMultipartConditions(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	old := mustPut(t, be, "bucket", "k", []byte("old"), storage.PutOptions{})
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 1000))
	for name, opts := range map[string]storage.CompleteOptions{
		"IfNoneMatch":  {IfNoneMatch: true, MinPartSize: 1},
		"IfMatchWrong": {IfMatch: md5Hex([]byte("other")), MinPartSize: 1},
	} {
		if _, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1), opts); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Fatalf("%s: %v, want ErrPreconditionFailed", name, err)
		}
		wantContent(t, be, "bucket", "k", []byte("old"))
		wantParts(t, mp, up, 1)
	}
	mustComplete(t, mp, up, completeParts(p1), storage.CompleteOptions{IfMatch: old.ETag, MinPartSize: 1})
	wantContentBytes(t, be, "k", content("1", 1000))

	// On an empty key, If-None-Match lets the completion through and If-Match does not.
	up2 := mustCreateUpload(t, mp, "fresh", storage.MultipartOptions{})
	q1 := mustUploadPart(t, mp, up2, 1, content("q", 10))
	if _, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "fresh", up2.UploadID, completeParts(q1), storage.CompleteOptions{IfMatch: old.ETag}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("If-Match on an empty key: %v, want ErrPreconditionFailed", err)
	}
	mustComplete(t, mp, up2, completeParts(q1), storage.CompleteOptions{IfNoneMatch: true})
}

func testMultipartMaxSize(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{MaxSize: 2000})
	if up.MaxSize != 2000 {
		t.Fatalf("upload MaxSize = %d, want 2000", up.MaxSize)
	}
	p1 := mustUploadPart(t, mp, up, 1, content("1", 1000))
	p2 := mustUploadPart(t, mp, up, 2, content("2", 1001))
	if _, err := mp.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, completeParts(p1, p2), smallParts); !errors.Is(err, storage.ErrEntityTooLarge) {
		t.Fatalf("completing 2001 bytes of a 2000-byte upload: %v, want ErrEntityTooLarge", err)
	}
	wantMissing(t, be, "bucket", "k")
	p2 = mustUploadPart(t, mp, up, 2, content("2", 1000))
	mustComplete(t, mp, up, completeParts(p1, p2), smallParts)
}

func testMultipartReplaceDelete(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	complete := func(key string) []byte {
		up := mustCreateUpload(t, mp, key, storage.MultipartOptions{})
		p1 := mustUploadPart(t, mp, up, 1, content(key+"1", 100<<10))
		p2 := mustUploadPart(t, mp, up, 2, content(key+"2", 100))
		mustComplete(t, mp, up, completeParts(p1, p2), smallParts)
		return slices.Concat(content(key+"1", 100<<10), content(key+"2", 100))
	}
	// A multipart object replaces a single-part one, and the other way round.
	mustPut(t, be, "bucket", "k", content("single", 300<<10), storage.PutOptions{})
	data := complete("k")
	wantContentBytes(t, be, "k", data)
	mustPut(t, be, "bucket", "k", []byte("small again"), storage.PutOptions{})
	wantContent(t, be, "bucket", "k", []byte("small again"))
	// One multipart object replaces another.
	complete("m")
	data = complete("m")
	wantContentBytes(t, be, "m", data)
	removed, err := be.DeleteObject(t.Context(), "bucket", "m")
	if err != nil || removed.Size != int64(len(data)) {
		t.Fatalf("DeleteObject of a multipart object = %+v, %v", removed, err)
	}
	wantMissing(t, be, "bucket", "m")
}

func testMultipartOpenKeepsVersion(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	p1 := mustUploadPart(t, mp, up, 1, content("1", 300<<10))
	p2 := mustUploadPart(t, mp, up, 2, content("2", 300<<10))
	mustComplete(t, mp, up, completeParts(p1, p2), smallParts)
	want := slices.Concat(content("1", 300<<10), content("2", 300<<10))
	for _, change := range []string{"delete", "replace"} {
		t.Run(change, func(t *testing.T) {
			if change == "replace" {
				up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
				mustComplete(t, mp, up, completeParts(mustUploadPart(t, mp, up, 1, want)), smallParts)
			}
			obj, err := be.GetObject(t.Context(), "bucket", "k")
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			if change == "delete" {
				_, err = be.DeleteObject(t.Context(), "bucket", "k")
			} else {
				_, err = be.PutObject(t.Context(), "bucket", "k", newBody([]byte("newer")), storage.PutOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t.Context(), obj)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("open object after %s: %d bytes, %v; want its %d bytes", change, len(got), err, len(want))
			}
		})
	}
}

// rawSum is the checksum of data by alg, as raw bytes.
func rawSum(alg string, data []byte) []byte {
	h, _ := sigv4.NewChecksum(alg)
	h.Write(data)
	return h.Sum(nil)
}

func testMultipartChecksums(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	needsSmallParts(t, be)
	newBucket(t, be)
	parts := [][]byte{content("a", 70<<10), content("b", 100<<10+3), content("c", 17)}
	whole := slices.Concat(parts...)
	for _, tc := range []struct{ alg, typ string }{
		{"CRC32", storage.ChecksumComposite}, {"CRC32", storage.ChecksumFullObject},
		{"CRC32C", storage.ChecksumComposite}, {"CRC32C", storage.ChecksumFullObject},
		{"CRC64NVME", storage.ChecksumFullObject},
		{"SHA1", storage.ChecksumComposite}, {"SHA256", storage.ChecksumComposite},
	} {
		t.Run(tc.alg+"/"+tc.typ, func(t *testing.T) {
			key := tc.alg + tc.typ
			up := mustCreateUpload(t, mp, key, storage.MultipartOptions{ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
			if up.ChecksumAlgorithm != tc.alg || up.ChecksumType != tc.typ {
				t.Fatalf("upload checksum settings = %s %s", up.ChecksumAlgorithm, up.ChecksumType)
			}
			var listed []storage.CompletePart
			var concat []byte
			for i, data := range parts {
				p := mustUploadPart(t, mp, up, i+1, data, tc.alg)
				sum := rawSum(tc.alg, data)
				if got := p.Checksums[tc.alg]; got != base64.StdEncoding.EncodeToString(sum) {
					t.Fatalf("part %d %s = %q, want %q", i+1, tc.alg, got, base64.StdEncoding.EncodeToString(sum))
				}
				concat = append(concat, sum...)
				listed = append(listed, storage.CompletePart{Number: p.Number, ETag: p.ETag, Checksums: p.Checksums})
			}
			want := base64.StdEncoding.EncodeToString(rawSum(tc.alg, whole))
			if tc.typ == storage.ChecksumComposite {
				want = base64.StdEncoding.EncodeToString(rawSum(tc.alg, concat)) + fmt.Sprintf("-%d", len(parts))
			}
			wrong := map[string]string{tc.alg: base64.StdEncoding.EncodeToString(rawSum(tc.alg, []byte("x")))}
			_, err := mp.CompleteMultipartUpload(t.Context(), "bucket", key, up.UploadID, listed, storage.CompleteOptions{MinPartSize: 1, Checksums: wrong})
			var de *storage.DigestError
			if !errors.As(err, &de) || de.Algorithm != tc.alg {
				t.Fatalf("completion declaring a wrong %s: %v, want a DigestError", tc.alg, err)
			}
			// The declared value may come with or without the part count.
			declared := map[string]string{tc.alg: want}
			if tc.typ == storage.ChecksumComposite {
				declared[tc.alg] = want[:len(want)-2]
			}
			info := mustComplete(t, mp, up, listed, storage.CompleteOptions{MinPartSize: 1, Checksums: declared})
			if info.Checksums[tc.alg] != want {
				t.Fatalf("object %s = %q, want %q", tc.alg, info.Checksums[tc.alg], want)
			}
			head, err := be.HeadObject(t.Context(), "bucket", key)
			if err != nil || head.Checksums[tc.alg] != want {
				t.Fatalf("HeadObject checksums = %v, %v; want %s %q", head.Checksums, err, tc.alg, want)
			}
		})
	}
}

// testMultipartUncomputedChecksum: a whole-object checksum that a completion declares but
// the backend does not compute (an empty value, a bare part count, or a value of an algorithm
// the upload does not have) cannot be verified, so the completion is refused as a mismatch
// (a DigestError with nothing computed), as S3 refuses what it cannot check; it changes
// nothing, and the same completion without the declaration succeeds.
func testMultipartUncomputedChecksum(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	data := content("only", 1000)
	crc32 := storage.MultipartOptions{ChecksumAlgorithm: "CRC32", ChecksumType: storage.ChecksumComposite}
	for _, tc := range []struct {
		name     string
		upload   storage.MultipartOptions
		declared map[string]string
	}{
		{"EmptyWithoutAlgorithm", storage.MultipartOptions{}, map[string]string{"CRC32": ""}},
		{"PartCountWithoutAlgorithm", storage.MultipartOptions{}, map[string]string{"SHA256": "-1"}},
		{"ValueWithoutAlgorithm", storage.MultipartOptions{}, map[string]string{"SHA256": base64.StdEncoding.EncodeToString(rawSum("SHA256", data))}},
		{"EmptyOfAnotherAlgorithm", crc32, map[string]string{"CRC32C": ""}},
		{"ValueOfAnotherAlgorithm", crc32, map[string]string{"CRC32C": base64.StdEncoding.EncodeToString(rawSum("CRC32C", data))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := mustCreateUpload(t, mp, tc.name, tc.upload)
			var compute []string
			if tc.upload.ChecksumAlgorithm != "" {
				compute = append(compute, tc.upload.ChecksumAlgorithm)
			}
			p := mustUploadPart(t, mp, up, 1, data, compute...)
			listed := []storage.CompletePart{{Number: 1, ETag: p.ETag, Checksums: p.Checksums}}
			_, err := mp.CompleteMultipartUpload(t.Context(), "bucket", tc.name, up.UploadID, listed, storage.CompleteOptions{Checksums: tc.declared})
			var de *storage.DigestError
			if !errors.As(err, &de) || tc.declared[de.Algorithm] != de.Expected || de.Computed != "" {
				t.Fatalf("completion declaring %v: %v, want a DigestError of that algorithm with nothing computed", tc.declared, err)
			}
			wantMissing(t, be, "bucket", tc.name)
			wantParts(t, mp, up, 1)
			info := mustComplete(t, mp, up, listed, storage.CompleteOptions{})
			if _, ok := info.Checksums[tc.upload.ChecksumAlgorithm]; tc.upload.ChecksumAlgorithm != "" && !ok {
				t.Fatalf("completed object checksums %v lack the upload's %s", info.Checksums, tc.upload.ChecksumAlgorithm)
			}
		})
	}
}

func testMultipartListParts(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{Meta: storage.Metadata{ContentType: "text/plain"}})
	numbers := []int{1, 2, 5, 6, 9, 1000, storage.MaxParts}
	for _, n := range numbers {
		mustUploadPart(t, mp, up, n, content(fmt.Sprint(n), n%97))
	}
	var got []int
	opts := storage.ListPartsOptions{MaxParts: 3}
	for pages := 0; ; pages++ {
		if pages > len(numbers) {
			t.Fatal("ListParts does not end")
		}
		page, err := mp.ListParts(t.Context(), "bucket", "k", up.UploadID, opts)
		if err != nil {
			t.Fatalf("ListParts(%+v): %v", opts, err)
		}
		if page.Upload.UploadID != up.UploadID || page.Upload.Meta.ContentType != "text/plain" {
			t.Fatalf("ListParts upload = %+v", page.Upload)
		}
		if len(page.Parts) > 3 {
			t.Fatalf("page of %d parts, MaxParts 3", len(page.Parts))
		}
		for _, p := range page.Parts {
			data := content(fmt.Sprint(p.Number), p.Number%97)
			if p.Size != int64(len(data)) || p.ETag != md5Hex(data) || p.LastModified.IsZero() {
				t.Fatalf("part %+v does not describe its bytes", p)
			}
			got = append(got, p.Number)
		}
		if !page.Truncated {
			break
		}
		if page.NextAfter != page.Parts[len(page.Parts)-1].Number {
			t.Fatalf("NextAfter = %d, want the page's last number", page.NextAfter)
		}
		opts.After = page.NextAfter
	}
	if !slices.Equal(got, numbers) {
		t.Fatalf("pages listed %v, want %v", got, numbers)
	}
	page, err := mp.ListParts(t.Context(), "bucket", "k", up.UploadID, storage.ListPartsOptions{After: 6})
	if err != nil || len(page.Parts) != 3 || page.Parts[0].Number != 9 || page.Truncated {
		t.Fatalf("ListParts after 6 = %+v, %v", page, err)
	}
}

func testMultipartListUploads(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	newBucket(t, be)
	// Two uploads of one key, listed in the order they started.
	type entry struct{ key, id string }
	var all []entry
	for _, key := range []string{"b/2", "a", "b/1", "a", "c/x/y", "a/b", "d"} {
		up := mustCreateUpload(t, mp, key, storage.MultipartOptions{})
		all = append(all, entry{key, up.UploadID})
	}
	slices.SortStableFunc(all, func(x, y entry) int { return bytes.Compare([]byte(x.key), []byte(y.key)) })
	list := func(opts storage.ListUploadsOptions) (got []string) {
		t.Helper()
		for pages := 0; ; pages++ {
			if pages > len(all)+1 {
				t.Fatal("ListMultipartUploads does not end")
			}
			page, err := mp.ListMultipartUploads(t.Context(), "bucket", opts)
			if err != nil {
				t.Fatalf("ListMultipartUploads(%+v): %v", opts, err)
			}
			if n := len(page.Uploads) + len(page.CommonPrefixes); opts.MaxUploads > 0 && n > opts.MaxUploads {
				t.Fatalf("page of %d entries, MaxUploads %d", n, opts.MaxUploads)
			}
			for _, u := range page.Uploads {
				got = append(got, u.Key+" "+u.UploadID)
			}
			for _, p := range page.CommonPrefixes {
				got = append(got, p+" (prefix)")
			}
			if !page.Truncated {
				return got
			}
			opts.KeyMarker, opts.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
		}
	}
	var want []string
	for _, e := range all {
		want = append(want, e.key+" "+e.id)
	}
	for _, max := range []int{0, 1, 2, 3, 100} {
		if got := list(storage.ListUploadsOptions{MaxUploads: max}); !slices.Equal(got, want) {
			t.Fatalf("MaxUploads %d: listed\n%q\nwant\n%q", max, got, want)
		}
	}
	wantDelim := []string{all[0].key + " " + all[0].id, all[1].key + " " + all[1].id, "a/ (prefix)", "b/ (prefix)", "c/ (prefix)", "d " + all[6].id}
	for _, max := range []int{1, 2, 100} {
		got := list(storage.ListUploadsOptions{Delimiter: "/", MaxUploads: max})
		// Entries within a page come uploads first; across pages order is by key.
		slices.Sort(got)
		sorted := slices.Clone(wantDelim)
		slices.Sort(sorted)
		if !slices.Equal(got, sorted) {
			t.Fatalf("Delimiter / MaxUploads %d: listed\n%q\nwant\n%q", max, got, sorted)
		}
	}
	if got := list(storage.ListUploadsOptions{Prefix: "b/"}); !slices.Equal(got, want[3:5]) {
		t.Fatalf("Prefix b/: listed %q, want %q", got, want[3:5])
	}
	if got := list(storage.ListUploadsOptions{Prefix: "c/", Delimiter: "/"}); !slices.Equal(got, []string{"c/x/ (prefix)"}) {
		t.Fatalf("Prefix c/ Delimiter /: listed %q", got)
	}
	// A key marker alone skips every upload of that key; with an upload id, only those up
	// to it.
	if got := list(storage.ListUploadsOptions{KeyMarker: "a"}); !slices.Equal(got, want[2:]) {
		t.Fatalf("KeyMarker a: listed %q, want %q", got, want[2:])
	}
	if got := list(storage.ListUploadsOptions{KeyMarker: "a", UploadIDMarker: all[0].id}); !slices.Equal(got, want[1:]) {
		t.Fatalf("KeyMarker a, UploadIDMarker of its first: listed %q, want %q", got, want[1:])
	}
}

func testMultipartMissing(t *testing.T, be storage.Backend) {
	mp := multiparter(t, be)
	if _, err := mp.CreateMultipartUpload(t.Context(), "nobucket", "k", storage.MultipartOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("CreateMultipartUpload in a missing bucket: %v, want ErrNoSuchBucket", err)
	}
	if _, err := mp.ListMultipartUploads(t.Context(), "nobucket", storage.ListUploadsOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("ListMultipartUploads of a missing bucket: %v, want ErrNoSuchBucket", err)
	}
	newBucket(t, be)
	up := mustCreateUpload(t, mp, "k", storage.MultipartOptions{})
	for _, tc := range []struct{ name, key, id string }{
		{"UnknownID", "k", "0000000000000000000000000000000000000000"},
		{"MalformedID", "k", "../../etc"},
		{"EmptyID", "k", ""},
		{"OtherKey", "other", up.UploadID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := mp.HeadMultipartUpload(t.Context(), "bucket", tc.key, tc.id); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("HeadMultipartUpload: %v, want ErrNoSuchUpload", err)
			}
			if _, err := mp.UploadPart(t.Context(), "bucket", tc.key, tc.id, 1, newBody([]byte("x"))); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("UploadPart: %v, want ErrNoSuchUpload", err)
			}
			if _, err := mp.ListParts(t.Context(), "bucket", tc.key, tc.id, storage.ListPartsOptions{}); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("ListParts: %v, want ErrNoSuchUpload", err)
			}
			if err := mp.AbortMultipartUpload(t.Context(), "bucket", tc.key, tc.id); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("AbortMultipartUpload: %v, want ErrNoSuchUpload", err)
			}
			parts := []storage.CompletePart{{Number: 1, ETag: md5Hex(nil)}}
			if _, err := mp.CompleteMultipartUpload(t.Context(), "bucket", tc.key, tc.id, parts, smallParts); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("CompleteMultipartUpload: %v, want ErrNoSuchUpload", err)
			}
		})
	}
	// The real upload was not disturbed.
	wantParts(t, mp, up)
}
