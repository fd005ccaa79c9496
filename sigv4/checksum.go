package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// Checksum algorithms of the S3 flexible-checksum headers (x-amz-checksum-<name>), by their
// canonical upper-case names.
const (
	ChecksumCRC32     = "CRC32"
	ChecksumCRC32C    = "CRC32C"
	ChecksumCRC64NVME = "CRC64NVME"
	ChecksumSHA1      = "SHA1"
	ChecksumSHA256    = "SHA256"
)

// ChecksumAlgorithms lists the supported algorithms in a fixed order.
var ChecksumAlgorithms = [...]string{ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256}

// crc64NVMETable is CRC-64/NVME (polynomial 0xAD93D23594C93659, reflected, init and xorout
// all ones); hash/crc64 takes the reversed polynomial and applies the same init and xorout.
var crc64NVMETable = crc64.MakeTable(0x9A6C9329AC4BC9B5)

// NewChecksum returns a fresh hash for a checksum algorithm name (case-insensitive), or false
// when the name is not one of ChecksumAlgorithms.
func NewChecksum(name string) (hash.Hash, bool) {
	switch strings.ToUpper(name) {
	case ChecksumCRC32:
		return crc32.NewIEEE(), true
	case ChecksumCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli)), true
	case ChecksumCRC64NVME:
		return crc64.New(crc64NVMETable), true
	case ChecksumSHA1:
		return sha1.New(), true
	case ChecksumSHA256:
		return sha256.New(), true
	}
	return nil, false
}

// ChecksumHeader returns the header that carries an algorithm's value, e.g.
// "x-amz-checksum-crc32c".
func ChecksumHeader(algorithm string) string {
	return "x-amz-checksum-" + strings.ToLower(algorithm)
}

// ChecksumFromHeader returns the algorithm named by a header such as "X-Amz-Checksum-Crc32", or
// false when the header is not a checksum header of a supported algorithm.
func ChecksumFromHeader(name string) (string, bool) {
	const prefix = "x-amz-checksum-"
	if len(name) <= len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
		return "", false
	}
	alg := strings.ToUpper(name[len(prefix):])
	if _, ok := NewChecksum(alg); !ok {
		return "", false
	}
	return alg, true
}

// EncodeChecksum returns the wire form (standard base64) of a finished checksum hash.
func EncodeChecksum(h hash.Hash) string {
	var buf [64]byte
	return base64.StdEncoding.EncodeToString(h.Sum(buf[:0]))
}
