package storage

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"presign/sigv4"
)

// The digests of a multipart object, as S3 computes them from its parts. Backends call these
// when they complete an upload, so that every backend agrees with S3 and with each other.

// MultipartETag is the ETag of an object made of parts with the given MD5s: the hex MD5 of the
// concatenated binary MD5s, then "-" and the number of parts.
func MultipartETag(md5s [][16]byte) string {
	h := md5.New()
	for _, m := range md5s {
		h.Write(m[:])
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(md5s))
}

// crcParams describes the CRCs whose full-object values can be combined from their parts':
// reflected polynomial and width in bits. All three start from and finish with all ones.
var crcParams = map[string]struct {
	poly  uint64
	width uint
}{
	sigv4.ChecksumCRC32:     {0xEDB88320, 32},
	sigv4.ChecksumCRC32C:    {0x82F63B78, 32},
	sigv4.ChecksumCRC64NVME: {0x9A6C9329AC4BC9B5, 64},
}

// DefaultChecksumType is the type S3 gives an upload that names an algorithm but no type:
// FULL_OBJECT for CRC64NVME, which has no composite form, COMPOSITE for the others.
func DefaultChecksumType(alg string) string {
	if alg == sigv4.ChecksumCRC64NVME {
		return ChecksumFullObject
	}
	return ChecksumComposite
}

// ValidChecksumType reports whether S3 offers checksum type typ for algorithm alg: COMPOSITE
// for all but CRC64NVME, FULL_OBJECT for the CRCs.
func ValidChecksumType(alg, typ string) bool {
	switch typ {
	case ChecksumComposite:
		_, ok := sigv4.NewChecksum(alg)
		return ok && alg != sigv4.ChecksumCRC64NVME
	case ChecksumFullObject:
		_, ok := crcParams[alg]
		return ok
	}
	return false
}

// MultipartChecksum computes the checksum of algorithm alg and type typ of an object made of
// parts, in order, from their stored checksums. COMPOSITE is the checksum of the concatenated
// raw part checksums followed by "-<parts>"; FULL_OBJECT is the CRC of the whole content,
// combined from the parts' CRCs and sizes. It fails when a part lacks a valid checksum of alg.
func MultipartChecksum(alg, typ string, parts []PartInfo) (string, error) {
	if !ValidChecksumType(alg, typ) {
		return "", fmt.Errorf("storage: no %s checksum of type %q", alg, typ)
	}
	raw := func(p PartInfo) ([]byte, error) {
		b, err := base64.StdEncoding.DecodeString(p.Checksums[alg])
		if h, _ := sigv4.NewChecksum(alg); err != nil || len(b) != h.Size() {
			return nil, fmt.Errorf("storage: part %d has no valid %s checksum", p.Number, alg)
		}
		return b, nil
	}
	if typ == ChecksumComposite {
		h, _ := sigv4.NewChecksum(alg)
		for _, p := range parts {
			b, err := raw(p)
			if err != nil {
				return "", err
			}
			h.Write(b)
		}
		return sigv4.EncodeChecksum(h) + "-" + strconv.Itoa(len(parts)), nil
	}
	params := crcParams[alg]
	var crc uint64
	for i, p := range parts {
		b, err := raw(p)
		if err != nil {
			return "", err
		}
		v := crcValue(b)
		if i == 0 {
			crc = v
			continue
		}
		crc = combineCRC(params.poly, params.width, crc, v, p.Size)
	}
	if len(parts) == 0 {
		h, _ := sigv4.NewChecksum(alg)
		return sigv4.EncodeChecksum(h), nil
	}
	out := binary.BigEndian.AppendUint64(nil, crc)
	return base64.StdEncoding.EncodeToString(out[8-params.width/8:]), nil
}

// SameChecksum compares a declared whole-object checksum with a computed one, ignoring a "-N"
// part-count suffix on either side: clients differ in whether they send it.
func SameChecksum(declared, computed string) bool {
	strip := func(s string) string {
		if i := strings.LastIndexByte(s, '-'); i >= 0 {
			return s[:i]
		}
		return s
	}
	return strip(declared) == strip(computed)
}

// crcValue reads a big-endian CRC of 4 or 8 bytes.
func crcValue(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// combineCRC returns the CRC of A followed by B from crcA, crcB and the length of B, for a
// reflected CRC of the given polynomial and width whose register starts and ends inverted
// (zlib's crc32_combine, generalised to 64 bits): it applies to crcA the operator of len2 zero
// bytes, built by repeated squaring in GF(2), in O(width² log len2).
func combineCRC(poly uint64, width uint, crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	odd := make([]uint64, width) // the operator of one zero bit
	even := make([]uint64, width)
	odd[0] = poly
	row := uint64(1)
	for n := uint(1); n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(even, odd) // two zero bits
	gf2Square(odd, even) // four zero bits
	for {
		gf2Square(even, odd) // first pass: one zero byte
		if lenB&1 != 0 {
			crcA = gf2Times(even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		gf2Square(odd, even)
		if lenB&1 != 0 {
			crcA = gf2Times(odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}
