package storage

import (
	"fmt"
	"net/http"
)

// The rules of a multipart completion, written once. The HTTP face checks the part list with
// CheckPartList before it calls the backend (and so before a single-use URL is consumed);
// every Multiparter calls CheckCompletion on what it stores, so that all of them refuse the
// same completions with the same errors. multipart_checksum.go holds the digests these rules
// compute.

// partListError is a part list that breaks one of S3's rules. A backend's caller sees the
// Multiparter sentinel it wraps (errors.Is); the HTTP face answers the S3 error it also wraps
// (errors.As with *APIError), which says more than the sentinel's generic InvalidPart.
type partListError struct {
	sentinel error
	api      *APIError
}

func (e *partListError) Error() string   { return e.sentinel.Error() + ": " + e.api.Message }
func (e *partListError) Unwrap() []error { return []error{e.sentinel, e.api} }

// The breaches of CheckPartList, with S3's answers.
var (
	errNoParts = &partListError{ErrInvalidPart, &APIError{"MalformedXML", http.StatusBadRequest,
		"The XML you provided was not well-formed or did not validate against our published schema: it must list at least one part.", nil}}
	errTooManyParts = &partListError{ErrInvalidPart, apiErr("InvalidArgument", http.StatusBadRequest,
		"A multipart upload has at most %d parts.", MaxParts)}
	errInvalidPartNumber = &partListError{ErrInvalidPart, apiErr("InvalidArgument", http.StatusBadRequest,
		"Part number must be an integer between 1 and %d, inclusive", MaxParts)}
)

// CheckPartList applies the rules a completion's list of parts must meet whatever is stored:
// 1 to MaxParts parts, each numbered 1 to MaxParts (ErrInvalidPart), in strictly ascending
// order (ErrInvalidPartOrder). Every number is checked before the order.
func CheckPartList(parts []CompletePart) error {
	if len(parts) == 0 {
		return errNoParts
	}
	if len(parts) > MaxParts {
		return fmt.Errorf("%d parts listed: %w", len(parts), errTooManyParts)
	}
	for _, p := range parts {
		if p.Number < 1 || p.Number > MaxParts {
			return fmt.Errorf("part number %d: %w", p.Number, errInvalidPartNumber)
		}
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return fmt.Errorf("%w: part %d after part %d", ErrInvalidPartOrder, parts[i].Number, parts[i-1].Number)
		}
	}
	return nil
}

// Completion is the object a completion makes, as CheckCompletion found it.
type Completion struct {
	// Parts are the stored parts, in list order.
	Parts []PartInfo
	// Size is the object's size: the sum of the parts'.
	Size int64
	// Checksums holds the object's checksum of the upload's algorithm; nil without one.
	Checksums map[string]string
}

// PartFinder returns the stored part of number n with ETag etag, with its size and
// checksums, or false when the upload holds none. A backend that keeps one part per number may
// return that part whatever its ETag: CheckCompletion compares the ETags.
type PartFinder func(n int, etag string) (PartInfo, bool, error)

// CheckCompletion applies the rules of a completion to what the backend stores of the upload
// up, in this order:
//
//   - the list passes CheckPartList;
//   - every listed part is stored with the listed ETag and with each checksum listed for it
//     (ErrInvalidPart);
//   - every part but the last holds at least opts.MinPartSize bytes, MinPartSize when that is
//     0 (ErrPartTooSmall);
//   - the parts together hold at most up.MaxSize bytes, when that is set (ErrEntityTooLarge);
//   - the object's checksum of up's algorithm is computed from the parts' (ErrInvalidPart when
//     a part lacks one), and each whole-object checksum the completion declares equals the one
//     computed, with or without its "-N" suffix (*DigestError). A declared checksum that was
//     not computed, being empty or of another algorithm, cannot be verified and is refused
//     as a mismatch with nothing computed: a client that asked for a check never gets a
//     completion that skipped it.
//
// find is called once per listed part, in list order; an error of find is returned as it is.
// The write conditions of opts are the backend's to check, atomically with its commit.
func CheckCompletion(up MultipartOptions, listed []CompletePart, opts CompleteOptions, find PartFinder) (Completion, error) {
	if err := CheckPartList(listed); err != nil {
		return Completion{}, err
	}
	c := Completion{Parts: make([]PartInfo, len(listed))}
	for i, lp := range listed {
		p, ok, err := find(lp.Number, lp.ETag)
		if err != nil {
			return Completion{}, err
		}
		if !ok {
			return Completion{}, fmt.Errorf("%w: part %d with ETag %s was not uploaded", ErrInvalidPart, lp.Number, lp.ETag)
		}
		if p.ETag != lp.ETag {
			return Completion{}, fmt.Errorf("%w: part %d has ETag %s, not %s", ErrInvalidPart, lp.Number, p.ETag, lp.ETag)
		}
		for alg, want := range lp.Checksums {
			if got := p.Checksums[alg]; got != want {
				return Completion{}, fmt.Errorf("%w: part %d has %s %q, not %q", ErrInvalidPart, lp.Number, alg, got, want)
			}
		}
		c.Parts[i] = p
		c.Size += p.Size
	}
	minPart := opts.MinPartSize
	if minPart <= 0 {
		minPart = MinPartSize
	}
	for _, p := range c.Parts[:len(c.Parts)-1] {
		if p.Size < minPart {
			return Completion{}, fmt.Errorf("%w: part %d has %d bytes, less than %d", ErrPartTooSmall, p.Number, p.Size, minPart)
		}
	}
	if up.MaxSize > 0 && c.Size > up.MaxSize {
		return Completion{}, fmt.Errorf("%w: %d bytes in parts, at most %d allowed", ErrEntityTooLarge, c.Size, up.MaxSize)
	}
	if alg := up.ChecksumAlgorithm; alg != "" {
		typ := up.ChecksumType
		if typ == "" {
			typ = DefaultChecksumType(alg)
		}
		v, err := MultipartChecksum(alg, typ, c.Parts)
		if err != nil {
			return Completion{}, fmt.Errorf("%w: %w", ErrInvalidPart, err)
		}
		c.Checksums = map[string]string{alg: v}
	}
	for alg, want := range opts.Checksums {
		if got := c.Checksums[alg]; got == "" || !SameChecksum(want, got) {
			return Completion{}, &DigestError{Algorithm: alg, Expected: want, Computed: got}
		}
	}
	return c, nil
}
