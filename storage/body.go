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
	// SkipMD5 leaves Sums.MD5 zero, for a backend that takes its ETags from elsewhere
	// (SelectiveMD5): MD5 is the dearest hash of all, and no cheaper for one stream on any core.
	// It has no effect with ContentMD5, which is always checked.
	SkipMD5 bool
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
	pipe   *hashPipe // when hashing runs beside the reads (newParallelBody)
}

// NewBody wraps r so that it yields io.EOF only when every check in opts has passed.
// An unknown algorithm name in opts is reported by the first Read.
func NewBody(r io.Reader, opts BodyOptions) *CheckedBody {
	b := &CheckedBody{r: r, opts: opts}
	if !opts.SkipMD5 || opts.ContentMD5 != nil {
		b.md5 = md5.New()
	}
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

// ChecksumAlgorithms implements ChecksumPlanner.
func (b *CheckedBody) ChecksumAlgorithms() []string {
	algs := make([]string, 0, len(b.sums))
	for _, s := range b.sums {
		algs = append(algs, s.name)
	}
	return algs
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
	if b.pipe != nil && len(p) > pipeSlotSize {
		p = p[:pipeSlotSize]
	}
	n, err := b.r.Read(p)
	if n > 0 {
		if lim := b.limit(); lim >= 0 && b.n+int64(n) > lim {
			return 0, b.fail(ErrEntityTooLarge)
		}
		b.n += int64(n)
		if b.pipe != nil {
			if perr := b.pipe.hash(p[:n]); perr != nil {
				return 0, b.fail(perr)
			}
		} else {
			if b.md5 != nil {
				b.md5.Write(p[:n])
			}
			for i := range b.sums {
				b.sums[i].h.Write(p[:n])
			}
		}
	}
	switch {
	case err == io.EOF:
		if eerr := b.ended(); eerr != nil {
			return n, eerr
		}
	case err != nil:
		b.fail(err)
	}
	return n, err
}

// ended judges a body that reached its end: the hasher has hashed every byte, and the length
// and digests are as declared. The verdict is sticky, io.EOF when every check passed.
func (b *CheckedBody) ended() error {
	if b.pipe != nil {
		if err := b.pipe.wait(b.n); err != nil {
			return b.fail(err)
		}
	}
	if err := b.finish(); err != nil {
		b.err = err
		return err
	}
	b.err = io.EOF
	return nil
}

// fail makes err sticky and stops the hasher.
func (b *CheckedBody) fail(err error) error {
	b.err = err
	if b.pipe != nil {
		b.pipe.stop()
		<-b.pipe.done
		b.pipe.release()
	}
	return err
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
	switch {
	case b.pipe != nil && b.pipe.lane != nil:
		b.result.MD5 = b.pipe.laneSum
	case b.md5 != nil:
		b.md5.Sum(b.result.MD5[:0])
	}
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

// Fill reads r into p until p is full, r ends or r fails; err is nil exactly when p is full
// (and the end may not have been seen yet), else r's error, io.EOF included. Unlike
// io.ReadFull it keeps io.EOF, which the body writers use to tell a body that ended exactly at
// a buffer's end.
func Fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
