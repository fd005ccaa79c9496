package storage

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"

	"presign/sigv4"
)

// Errors a checked Body reports instead of io.EOF. The HTTP face maps each to its S3 code.
var (
	// ErrIncompleteBody: the body ended before its declared size.
	ErrIncompleteBody = errors.New("storage: body shorter than declared")
	// ErrEntityTooLarge: the body is longer than allowed.
	ErrEntityTooLarge = errors.New("storage: body larger than allowed")
)

// DigestError reports a body whose digest differs from the one the client declared.
type DigestError struct {
	Algorithm string // "MD5" or a checksum algorithm
	Expected  string // base64, as declared
	Computed  string // base64
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("storage: %s of the body is %s, not the declared %s", e.Algorithm, e.Computed, e.Expected)
}

// BodyOptions say what a checked body must satisfy.
type BodyOptions struct {
	// Size is the declared length, or -1 when unknown. A body that ends early fails with
	// ErrIncompleteBody; one that goes on past Size fails with ErrEntityTooLarge.
	Size int64
	// MaxBytes, when positive, fails a body longer than it with ErrEntityTooLarge as soon as
	// the excess byte arrives.
	MaxBytes int64
	// ContentMD5 is the declared MD5 (raw bytes), or nil.
	ContentMD5 []byte
	// Expect maps a checksum algorithm to the base64 value the body must have.
	Expect map[string]string
	// Compute lists further checksum algorithms to compute and store.
	Compute []string
}

type namedHash struct {
	name   string
	h      hash.Hash
	expect string
}

// CheckedBody is a Body that counts, hashes and checks the bytes of an io.Reader as they pass.
type CheckedBody struct {
	r      io.Reader
	opts   BodyOptions
	md5    hash.Hash
	sums   []namedHash
	n      int64
	err    error // sticky
	result Sums
}

// NewBody wraps r so that it yields io.EOF only when every check in opts has passed.
// An unknown algorithm name in opts is reported by the first Read.
func NewBody(r io.Reader, opts BodyOptions) *CheckedBody {
	b := &CheckedBody{r: r, opts: opts, md5: md5.New()}
	add := func(alg, expect string) {
		for i := range b.sums {
			if b.sums[i].name == alg {
				if expect != "" {
					b.sums[i].expect = expect
				}
				return
			}
		}
		h, ok := sigv4.NewChecksum(alg)
		if !ok {
			b.err = fmt.Errorf("storage: unknown checksum algorithm %q", alg)
			return
		}
		b.sums = append(b.sums, namedHash{name: alg, h: h, expect: expect})
	}
	for alg, v := range opts.Expect {
		add(alg, v)
	}
	for _, alg := range opts.Compute {
		add(alg, "")
	}
	return b
}

// Size implements Body.
func (b *CheckedBody) Size() int64 { return b.opts.Size }

// Sums implements Body.
func (b *CheckedBody) Sums() Sums { return b.result }

// Read implements io.Reader.
func (b *CheckedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if n > 0 {
		if lim := b.limit(); lim >= 0 && b.n+int64(n) > lim {
			b.err = ErrEntityTooLarge
			return 0, b.err
		}
		b.n += int64(n)
		b.md5.Write(p[:n])
		for i := range b.sums {
			b.sums[i].h.Write(p[:n])
		}
	}
	switch {
	case err == io.EOF:
		if ferr := b.finish(); ferr != nil {
			b.err = ferr
			return n, ferr
		}
		b.err = io.EOF
	case err != nil:
		b.err = err
	}
	return n, err
}

// limit is the largest acceptable length, or -1 for none.
func (b *CheckedBody) limit() int64 {
	lim := int64(-1)
	if b.opts.Size >= 0 {
		lim = b.opts.Size
	}
	if b.opts.MaxBytes > 0 && (lim < 0 || b.opts.MaxBytes < lim) {
		lim = b.opts.MaxBytes
	}
	return lim
}

func (b *CheckedBody) finish() error {
	if b.opts.Size >= 0 && b.n < b.opts.Size {
		return ErrIncompleteBody
	}
	b.md5.Sum(b.result.MD5[:0])
	if b.opts.ContentMD5 != nil && !bytes.Equal(b.opts.ContentMD5, b.result.MD5[:]) {
		return &DigestError{
			Algorithm: "MD5",
			Expected:  base64.StdEncoding.EncodeToString(b.opts.ContentMD5),
			Computed:  base64.StdEncoding.EncodeToString(b.result.MD5[:]),
		}
	}
	if len(b.sums) > 0 {
		b.result.Checksums = make(map[string]string, len(b.sums))
	}
	for _, s := range b.sums {
		v := sigv4.EncodeChecksum(s.h)
		if s.expect != "" && s.expect != v {
			return &DigestError{Algorithm: s.name, Expected: s.expect, Computed: v}
		}
		b.result.Checksums[s.name] = v
	}
	return nil
}
