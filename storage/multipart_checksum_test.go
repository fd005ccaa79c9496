package storage_test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"presign/sigv4"
	"presign/storage"
)

// partsOf describes data cut at the given sizes as stored parts with checksums of alg.
func partsOf(alg string, data []byte, sizes ...int) []storage.PartInfo {
	var parts []storage.PartInfo
	off := 0
	for i, n := range sizes {
		h, _ := sigv4.NewChecksum(alg)
		h.Write(data[off : off+n])
		parts = append(parts, storage.PartInfo{Number: i + 1, Size: int64(n), Checksums: map[string]string{alg: sigv4.EncodeChecksum(h)}})
		off += n
	}
	return parts
}

// TestFullObjectChecksumEqualsChecksumOfWholeContent: a CRC combined from the parts' CRCs is
// the CRC of the concatenation, whatever the cut, empty parts included.
func TestFullObjectChecksumEqualsChecksumOfWholeContent(t *testing.T) {
	data := mpData("crc", 300000)
	cuts := [][]int{{300000}, {1, 299999}, {0, 150000, 0, 150000}, {4096, 65536, 100000, 130368}, {299999, 1}}
	for _, alg := range []string{sigv4.ChecksumCRC32, sigv4.ChecksumCRC32C, sigv4.ChecksumCRC64NVME} {
		h, _ := sigv4.NewChecksum(alg)
		h.Write(data)
		want := sigv4.EncodeChecksum(h)
		for _, cut := range cuts {
			t.Run(fmt.Sprint(alg, cut), func(t *testing.T) {
				got, err := storage.MultipartChecksum(alg, storage.ChecksumFullObject, partsOf(alg, data, cut...))
				if err != nil || got != want {
					t.Fatalf("combined %s = %q, %v; want %q", alg, got, err, want)
				}
			})
		}
	}
}

func TestCompositeChecksumIsChecksumOfPartChecksums(t *testing.T) {
	data := mpData("composite", 10000)
	for _, alg := range []string{sigv4.ChecksumCRC32, sigv4.ChecksumCRC32C, sigv4.ChecksumSHA1, sigv4.ChecksumSHA256} {
		parts := partsOf(alg, data, 6000, 3999, 1)
		var concat []byte
		for _, p := range parts {
			raw, _ := base64.StdEncoding.DecodeString(p.Checksums[alg])
			concat = append(concat, raw...)
		}
		h, _ := sigv4.NewChecksum(alg)
		h.Write(concat)
		want := sigv4.EncodeChecksum(h) + "-3"
		if got, err := storage.MultipartChecksum(alg, storage.ChecksumComposite, parts); err != nil || got != want {
			t.Errorf("%s composite = %q, %v; want %q", alg, got, err, want)
		}
	}
}

func TestMultipartChecksumRefusesWhatS3Refuses(t *testing.T) {
	parts := partsOf(sigv4.ChecksumCRC32, []byte("abc"), 3)
	for _, tc := range []struct{ alg, typ string }{
		{sigv4.ChecksumCRC64NVME, storage.ChecksumComposite},
		{sigv4.ChecksumSHA256, storage.ChecksumFullObject},
		{sigv4.ChecksumCRC32, "PARTIAL"},
		{"MD4", storage.ChecksumComposite},
	} {
		if storage.ValidChecksumType(tc.alg, tc.typ) {
			t.Errorf("ValidChecksumType(%s, %s) = true", tc.alg, tc.typ)
		}
		if _, err := storage.MultipartChecksum(tc.alg, tc.typ, parts); err == nil {
			t.Errorf("MultipartChecksum(%s, %s) succeeded", tc.alg, tc.typ)
		}
	}
	// A part without a checksum of the algorithm cannot be combined.
	if _, err := storage.MultipartChecksum(sigv4.ChecksumCRC32C, storage.ChecksumComposite, parts); err == nil {
		t.Error("MultipartChecksum succeeded with parts lacking the algorithm's checksum")
	}
	if storage.DefaultChecksumType(sigv4.ChecksumCRC64NVME) != storage.ChecksumFullObject || storage.DefaultChecksumType(sigv4.ChecksumCRC32) != storage.ChecksumComposite {
		t.Error("DefaultChecksumType differs from S3's defaults")
	}
}

func TestMultipartETagIsMD5OfPartMD5s(t *testing.T) {
	parts := [][]byte{[]byte("hello "), []byte("world")}
	var md5s [][16]byte
	var concat []byte
	for _, p := range parts {
		s := md5.Sum(p)
		md5s = append(md5s, s)
		concat = slices.Concat(concat, s[:])
	}
	s := md5.Sum(concat)
	if got, want := storage.MultipartETag(md5s), hex.EncodeToString(s[:])+"-2"; got != want {
		t.Fatalf("MultipartETag = %s, want %s", got, want)
	}
}

func TestSameChecksumIgnoresPartCount(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"abc=-3", "abc=-3", true}, {"abc=", "abc=-3", true}, {"abc=-3", "abc=", true},
		{"abd=", "abc=-3", false}, {"", "abc=", false},
	} {
		if got := storage.SameChecksum(tc.a, tc.b); got != tc.same {
			t.Errorf("SameChecksum(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
