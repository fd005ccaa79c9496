package storage_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"presign/storage"
)

// TestCheckPartList: the list rules, each with the Multiparter sentinel a backend's caller
// tests and the S3 code the HTTP face answers. Numbers are checked before the order.
func TestCheckPartList(t *testing.T) {
	list := func(numbers ...int) []storage.CompletePart {
		parts := make([]storage.CompletePart, len(numbers))
		for i, n := range numbers {
			parts[i] = storage.CompletePart{Number: n, ETag: "e"}
		}
		return parts
	}
	tooMany := make([]int, storage.MaxParts+1)
	for i := range tooMany {
		tooMany[i] = i + 1
	}
	for _, tc := range []struct {
		name  string
		parts []storage.CompletePart
		want  error  // nil: accepted
		code  string // the S3 code of the refusal
	}{
		{"one", list(1), nil, ""},
		{"gaps", list(1, 7, storage.MaxParts), nil, ""},
		{"none", nil, storage.ErrInvalidPart, "MalformedXML"},
		{"too many", list(tooMany...), storage.ErrInvalidPart, "InvalidArgument"},
		{"zero", list(0), storage.ErrInvalidPart, "InvalidArgument"},
		{"past MaxParts", list(storage.MaxParts + 1), storage.ErrInvalidPart, "InvalidArgument"},
		{"descending", list(2, 1), storage.ErrInvalidPartOrder, ""},
		{"twice", list(1, 1), storage.ErrInvalidPartOrder, ""},
		{"bad number after a bad order", list(3, 2, storage.MaxParts+1), storage.ErrInvalidPart, "InvalidArgument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := storage.CheckPartList(tc.parts)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CheckPartList: %v, want %v", err, tc.want)
			}
			var api *storage.APIError
			if tc.code != "" && (!errors.As(err, &api) || api.Code != tc.code || api.Status != http.StatusBadRequest) {
				t.Fatalf("CheckPartList: %v, want S3 code %s", err, tc.code)
			}
		})
	}
}

// TestCheckCompletion: the rules applied to what is stored, in their order, on an upload
// with CRC32 checksums of parts of 5, 5 and 1 bytes.
func TestCheckCompletion(t *testing.T) {
	data := []byte("abcdefghijk")
	stored := partsOf("CRC32", data, 5, 5, 1)
	for i := range stored {
		stored[i].ETag = strings.Repeat(string(rune('a'+i)), 32)
	}
	find := func(n int, etag string) (storage.PartInfo, bool, error) {
		if n < 1 || n > len(stored) {
			return storage.PartInfo{}, false, nil
		}
		return stored[n-1], true, nil
	}
	listed := func(numbers ...int) []storage.CompletePart {
		var out []storage.CompletePart
		for _, n := range numbers {
			out = append(out, storage.CompletePart{Number: n, ETag: stored[n-1].ETag})
		}
		return out
	}
	withETag := func(parts []storage.CompletePart, i int, etag string) []storage.CompletePart {
		parts[i].ETag = etag
		return parts
	}
	withSum := func(parts []storage.CompletePart, i int, alg, v string) []storage.CompletePart {
		parts[i].Checksums = map[string]string{alg: v}
		return parts
	}
	up := storage.MultipartOptions{ChecksumAlgorithm: "CRC32", ChecksumType: storage.ChecksumFullObject}
	whole := partsOf("CRC32", data, len(data))[0].Checksums["CRC32"]
	small := storage.CompleteOptions{MinPartSize: 5}
	declare := func(v string) storage.CompleteOptions {
		return storage.CompleteOptions{MinPartSize: 5, Checksums: map[string]string{"CRC32": v}}
	}
	failed := errors.New("store unreadable")
	var digest *storage.DigestError
	for _, tc := range []struct {
		name   string
		up     storage.MultipartOptions
		parts  []storage.CompletePart
		opts   storage.CompleteOptions
		find   storage.PartFinder
		want   error // the sentinel of the refusal; nil with digest false: accepted
		digest bool  // refused with a *DigestError
	}{
		{"all parts", up, listed(1, 2, 3), small, find, nil, false},
		{"declared checksum", up, listed(1, 2, 3), declare(whole), find, nil, false},
		{"declared checksum with a part count", up, listed(1, 2, 3), declare(whole + "-3"), find, nil, false},
		{"bad list first", up, listed(2, 1), small, find, storage.ErrInvalidPartOrder, false},
		{"part not stored", up, []storage.CompletePart{{Number: 4, ETag: "x"}}, small, find, storage.ErrInvalidPart, false},
		{"other ETag", up, withETag(listed(1, 2), 1, "f"), small, find, storage.ErrInvalidPart, false},
		{"other part checksum", up, withSum(listed(1, 3), 0, "CRC32", "AAAAAA=="), small, find, storage.ErrInvalidPart, false},
		{"part checksum not stored", up, withSum(listed(1, 3), 0, "SHA256", "x"), small, find, storage.ErrInvalidPart, false},
		{"missing part before a small one", up, []storage.CompletePart{{Number: 3, ETag: stored[2].ETag}, {Number: 4, ETag: "x"}}, small, find, storage.ErrInvalidPart, false},
		{"small part not last", up, listed(3), storage.CompleteOptions{MinPartSize: 6}, find, nil, false},
		{"small part before another", up, listed(1, 3), storage.CompleteOptions{MinPartSize: 6}, find, storage.ErrPartTooSmall, false},
		{"default minimum", up, listed(1, 3), storage.CompleteOptions{}, find, storage.ErrPartTooSmall, false},
		{"over MaxSize", storage.MultipartOptions{MaxSize: 10}, listed(1, 2, 3), small, find, storage.ErrEntityTooLarge, false},
		{"at MaxSize", storage.MultipartOptions{MaxSize: 11}, listed(1, 2, 3), small, find, nil, false},
		{"part without the upload's checksum", storage.MultipartOptions{ChecksumAlgorithm: "SHA256"}, listed(1, 2, 3), small, find, storage.ErrInvalidPart, false},
		{"wrong declared checksum", up, listed(1, 2, 3), declare("AAAAAA=="), find, nil, true},
		{"empty declared checksum", up, listed(1, 2, 3), declare(""), find, nil, true},
		{"declared checksum not computed", storage.MultipartOptions{}, listed(1, 2, 3), declare(whole), find, nil, true},
		{"empty declared checksum not computed", storage.MultipartOptions{}, listed(1, 2, 3), declare(""), find, nil, true},
		{"part count declared, nothing computed", storage.MultipartOptions{}, listed(1, 2, 3), declare("-3"), find, nil, true},
		{"error of find", up, listed(1, 2, 3), small, func(int, string) (storage.PartInfo, bool, error) { return storage.PartInfo{}, false, failed }, failed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := storage.CheckCompletion(tc.up, tc.parts, tc.opts, tc.find)
			switch {
			case tc.digest:
				if !errors.As(err, &digest) || digest.Algorithm != "CRC32" {
					t.Fatalf("CheckCompletion: %v, want a DigestError of CRC32", err)
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("CheckCompletion: %v, want %v", err, tc.want)
				}
			case err != nil:
				t.Fatalf("CheckCompletion: %v", err)
			default:
				var size int64
				for i, p := range c.Parts {
					if p.Number != tc.parts[i].Number {
						t.Fatalf("part %d is number %d, want %d", i, p.Number, tc.parts[i].Number)
					}
					size += p.Size
				}
				if c.Size != size {
					t.Fatalf("size %d, want %d", c.Size, size)
				}
				if tc.up.ChecksumAlgorithm != "" && len(tc.parts) == 3 && c.Checksums["CRC32"] != whole {
					t.Fatalf("object CRC32 %q, want %q", c.Checksums["CRC32"], whole)
				}
			}
		})
	}
}
