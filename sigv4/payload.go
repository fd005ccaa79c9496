package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Payload is a request body checked against the request's signature as it is read: a signed
// SHA-256, signed chunks, a trailing checksum. Read returns io.EOF only when the whole body
// checked out; any other error means the body must not be used.
type Payload struct {
	r       io.Reader
	chunked *chunkedReader
	// Length is the number of decoded bytes the client declared (Content-Length, or
	// x-amz-decoded-content-length for aws-chunked bodies), or -1 when unknown.
	Length int64
}

// Read implements io.Reader.
func (p *Payload) Read(b []byte) (int, error) { return p.r.Read(b) }

// Chunked reports an aws-chunked body; its Content-Encoding then includes "aws-chunked", which
// is not part of the object's own encoding.
func (p *Payload) Chunked() bool { return p.chunked != nil }

// TrailerChecksum returns the algorithm and value of a trailing checksum the body carried
// (verified against the bytes), or empty strings. Valid after Read returned io.EOF.
func (p *Payload) TrailerChecksum() (algorithm, value string) {
	if p.chunked == nil {
		return "", ""
	}
	return p.chunked.Checksum()
}

// NewPayloadReader returns the body of r as a Payload checked against a, which Verify
// returned for r. By x-amz-content-sha256 (header auth) it checks the body's SHA-256, or
// decodes and checks an aws-chunked body (signed chunks, or unsigned chunks with a trailing
// checksum), or passes an UNSIGNED-PAYLOAD through. Presigned requests carry unsigned payloads
// unless the URL signed an X-Amz-Content-Sha256.
func NewPayloadReader(a *Auth, r *http.Request) (*Payload, error) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	p := &Payload{Length: r.ContentLength}
	if r.ContentLength < 0 || r.ContentLength == 0 && len(r.TransferEncoding) > 0 {
		p.Length = -1
	}
	switch h := a.PayloadHash; h {
	case UnsignedPayload:
		p.r = body
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		if a.Mode != HeaderAuth {
			return nil, &Error{Kind: KindInvalidContentSHA256, Message: "Streaming payloads need header authentication."}
		}
		o := ChunkedOptions{Signed: h != StreamingUnsignedTrailer, DecodedLength: -1}
		if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, errorf(KindMalformedChunk, "x-amz-decoded-content-length must be a non-negative integer.")
			}
			o.DecodedLength = n
		} else if o.Signed {
			return nil, &Error{Kind: KindMalformedChunk, Message: "Missing required header for this request: x-amz-decoded-content-length"}
		}
		if h != StreamingPayload {
			o.Trailer = strings.TrimSpace(r.Header.Get("X-Amz-Trailer"))
			if o.Trailer == "" {
				return nil, errorf(KindMalformedChunk, "x-amz-content-sha256 %s needs an x-amz-trailer header.", h)
			}
		}
		if o.Signed {
			o.Key, o.Scope, o.AmzDate, o.Seed = a.key, a.Scope, a.AmzDate, hex.EncodeToString(a.Signature[:])
		}
		c, err := newChunkedReader(body, o)
		if err != nil {
			return nil, err
		}
		p.r, p.chunked, p.Length = c, c, o.DecodedLength
	default:
		var want [sha256.Size]byte
		if _, err := hex.Decode(want[:], []byte(h)); err != nil || len(h) != 2*sha256.Size {
			return nil, &Error{Kind: KindInvalidContentSHA256}
		}
		p.r = &hashedReader{r: body, h: sha256.New(), want: want}
	}
	return p, nil
}

// hashedReader checks that a body hashes to the signed x-amz-content-sha256.
type hashedReader struct {
	r    io.Reader
	h    hash.Hash
	want [sha256.Size]byte
	err  error
}

func (r *hashedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF {
		var got [sha256.Size]byte
		r.h.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], r.want[:]) != 1 {
			err = &Error{Kind: KindContentSHA256Mismatch}
		}
	}
	if err != nil {
		r.err = err
	}
	return n, err
}
