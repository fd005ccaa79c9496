package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
	"strings"
)

// aws-chunked bodies (Content-Encoding: aws-chunked) carry the object in chunks:
//
//	hex(size);chunk-signature=<sig>\r\n <data> \r\n     (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER])
//	hex(size)\r\n <data> \r\n                           (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
//
// ending with a zero-size chunk and, in the -TRAILER modes, trailing headers such as
// x-amz-checksum-crc32c:<base64>, followed in the signed mode by x-amz-trailer-signature:<sig>,
// and an empty line. Each chunk signature signs the chunk's SHA-256 and chains to the previous
// signature, starting from the request's (seed) signature, so chunks can be neither altered
// nor reordered nor dropped.

const (
	chunkPrefix   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerPrefix = "AWS4-HMAC-SHA256-TRAILER"
	maxChunkLine  = 4 << 10
	maxBlankLines = 4
	// readBufSize is the decoder's buffer: it holds a chunk header line; chunk data larger
	// than it is read straight into the caller's buffer, saving a copy.
	readBufSize = 8 << 10
	// defaultChunkSize is what EncodeChunked uses when asked for no size, as the SDKs do.
	defaultChunkSize = 64 << 10
	chunkSigParam    = "chunk-signature="
	trailerSigHdr    = "x-amz-trailer-signature"
)

// chunkedReader decodes an aws-chunked body and checks it as it flows: chunk signatures
// (signed modes), the trailer signature, the trailing checksum, and the decoded length. It
// never holds more than its read buffer, whatever the chunk sizes.
type chunkedReader struct {
	br     *bufio.Reader
	signed bool

	// signed mode: the key and the constant head of every chunk's string to sign.
	key      SigningKey
	stsHead  []byte // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"
	sts      []byte // scratch for each chunk's string to sign
	sum      [sha256.Size]byte
	prevSig  [64]byte
	chunkSig [32]byte
	chunkSum hash.Hash

	amzDate, scope string

	remaining int64 // data bytes left in the current chunk
	inChunk   bool
	decoded   int64
	declared  int64 // x-amz-decoded-content-length, or -1

	trailerName string    // e.g. "x-amz-checksum-crc32c", or "" when no trailer is expected
	trailerAlg  string    // e.g. "CRC32C"
	trailerSum  hash.Hash // checksum of the decoded bytes, for the trailer
	checksum    string    // verified trailer value

	err error
}

// ChunkedOptions describe an aws-chunked body.
type ChunkedOptions struct {
	// Signed selects the chunk-signature framing; Key, Scope, AmzDate and Seed are needed then.
	Signed  bool
	Key     SigningKey
	Scope   Scope
	AmzDate string
	// Seed is the hex signature of the request (the Authorization header's Signature).
	Seed string
	// DecodedLength is x-amz-decoded-content-length, or -1 if not given.
	DecodedLength int64
	// Trailer is the checksum trailer announced in x-amz-trailer (e.g. "x-amz-checksum-crc32"),
	// or "" for none.
	Trailer string
}

func newChunkedReader(body io.Reader, o ChunkedOptions) (*chunkedReader, error) {
	c := &chunkedReader{br: bufio.NewReaderSize(body, readBufSize), signed: o.Signed, declared: o.DecodedLength}
	if o.Trailer != "" {
		alg, ok := ChecksumFromHeader(o.Trailer)
		if !ok {
			return nil, errorf(KindMalformedChunk, "The trailer %q is not supported; only x-amz-checksum-* trailers are.", o.Trailer)
		}
		c.trailerName, c.trailerAlg = strings.ToLower(o.Trailer), alg
		c.trailerSum, _ = NewChecksum(alg)
	}
	if o.Signed {
		if len(o.Seed) != 64 {
			return nil, errorf(KindSignatureMismatch, "The seed signature is malformed.")
		}
		c.key = o.Key
		c.amzDate, c.scope = o.AmzDate, o.Scope.String()
		c.stsHead = []byte(chunkPrefix + "\n" + o.AmzDate + "\n" + c.scope + "\n")
		copy(c.prevSig[:], o.Seed)
		c.chunkSum = sha256.New()
	}
	return c, nil
}

// NewChunkedReader returns a reader of the decoded bytes of an aws-chunked body. It reports a
// wrong chunk or trailer signature as KindSignatureMismatch, a broken framing as
// KindMalformedChunk, a body that ends early or disagrees with DecodedLength as
// KindIncompleteBody, and a trailing checksum that does not match as KindBadDigest; it
// returns io.EOF only when the whole body checked out.
func NewChunkedReader(body io.Reader, o ChunkedOptions) (io.Reader, error) {
	return newChunkedReader(body, o)
}

func (c *chunkedReader) fail(err error) (int, error) {
	c.err = err
	return 0, err
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for !c.inChunk {
		size, err := c.readChunkHeader()
		if err != nil {
			return c.fail(err)
		}
		if size == 0 {
			if err := c.finish(); err != nil {
				return c.fail(err)
			}
			c.err = io.EOF
			return 0, io.EOF
		}
		c.remaining, c.inChunk = size, true
		if c.signed {
			c.chunkSum.Reset()
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		c.remaining -= int64(n)
		c.decoded += int64(n)
		if c.signed {
			c.chunkSum.Write(p[:n])
		}
		if c.trailerSum != nil {
			c.trailerSum.Write(p[:n])
		}
		if c.declared >= 0 && c.decoded > c.declared {
			return c.fail(errorf(KindIncompleteBody, "The aws-chunked body is longer than x-amz-decoded-content-length."))
		}
	}
	if err != nil {
		if err == io.EOF {
			err = errorf(KindIncompleteBody, "The aws-chunked body ended inside a chunk.")
		}
		c.err = err
		return n, err
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			c.err = err
			return n, err
		}
	}
	return n, nil
}

// readLine returns one line without its line ending, at most maxChunkLine bytes.
func (c *chunkedReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > maxChunkLine:
		return nil, errorf(KindMalformedChunk, "An aws-chunked line is longer than %d bytes.", maxChunkLine)
	case err == io.EOF:
		return nil, errorf(KindIncompleteBody, "The aws-chunked body ended early.")
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readChunkHeader parses "hex(size)[;chunk-signature=<sig>]".
func (c *chunkedReader) readChunkHeader() (int64, error) {
	line, err := c.readLine()
	if err != nil {
		return 0, err
	}
	sizeHex, ext, hasExt := bytes.Cut(line, []byte{';'})
	size, ok := parseHexSize(sizeHex)
	if !ok {
		return 0, errorf(KindMalformedChunk, "The aws-chunked size %q is not valid hexadecimal.", truncate(sizeHex))
	}
	if c.signed {
		if !hasExt || !bytes.HasPrefix(ext, []byte(chunkSigParam)) || len(ext) != len(chunkSigParam)+64 {
			return 0, errorf(KindMalformedChunk, "A signed aws-chunked chunk needs a chunk-signature of 64 hexadecimal characters.")
		}
		if _, err := hex.Decode(c.chunkSig[:], ext[len(chunkSigParam):]); err != nil {
			return 0, errorf(KindMalformedChunk, "The chunk-signature is not hexadecimal.")
		}
	}
	if c.declared >= 0 && size > c.declared-c.decoded {
		return 0, errorf(KindIncompleteBody, "The aws-chunked body is longer than x-amz-decoded-content-length.")
	}
	if size == 0 && c.signed {
		if err := c.checkChunkSignature(); err != nil {
			return 0, err
		}
	}
	return size, nil
}

func parseHexSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		v, ok := unhex(ch)
		if !ok {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	return n, true
}

func truncate(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	c.inChunk = false
	cr, err1 := c.br.ReadByte()
	lf, err2 := c.br.ReadByte()
	if err1 != nil || err2 != nil {
		return errorf(KindIncompleteBody, "The aws-chunked body ended after a chunk's data.")
	}
	if cr != '\r' || lf != '\n' {
		return errorf(KindMalformedChunk, "An aws-chunked chunk's data is not followed by CRLF; its size is wrong.")
	}
	if c.signed {
		return c.checkChunkSignature()
	}
	return nil
}

// checkChunkSignature checks the current chunk's signature (the chunk's SHA-256 is in
// chunkSum) and makes it the previous signature.
func (c *chunkedReader) checkChunkSignature() error {
	c.chunkSum.Sum(c.sum[:0])
	sts := append(c.sts[:0], c.stsHead...)
	sts = append(sts, c.prevSig[:]...)
	sts = append(sts, '\n')
	sts = append(sts, EmptySHA256...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, c.sum[:])
	c.sts = sts
	want := signString(&c.key, sts)
	if subtle.ConstantTimeCompare(want[:], c.chunkSig[:]) != 1 {
		return &Error{Kind: KindSignatureMismatch, Message: "The chunk signature does not match; the body was altered, reordered or truncated.", StringToSign: string(sts)}
	}
	hex.Encode(c.prevSig[:], c.chunkSig[:])
	c.chunkSum.Reset()
	return nil
}

// finish checks the decoded length and reads what follows the last chunk: the trailer, if one
// was announced, and line endings.
func (c *chunkedReader) finish() error {
	if c.declared >= 0 && c.decoded != c.declared {
		return errorf(KindIncompleteBody, "The aws-chunked body holds %d bytes, not the %d of x-amz-decoded-content-length.", c.decoded, c.declared)
	}
	if c.trailerName != "" {
		if err := c.readTrailer(); err != nil {
			return err
		}
	}
	return c.drain()
}

// readTrailer reads the announced checksum trailer and, in the signed mode, the trailer
// signature after it, then checks both. Blank lines between them are tolerated: minio-go
// writes one.
func (c *chunkedReader) readTrailer() error {
	var value, sig []byte
	blank := 0
	for value == nil || c.signed && sig == nil {
		line, err := c.readLine()
		if err != nil {
			return errorf(KindIncompleteBody, "The aws-chunked body ended before its trailer %s.", c.trailerName)
		}
		if len(line) == 0 {
			if blank++; blank > maxBlankLines {
				return errorf(KindMalformedChunk, "Too many blank lines in the trailer.")
			}
			continue
		}
		name, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return errorf(KindMalformedChunk, "A trailer line is not of the form name:value.")
		}
		switch lname := strings.ToLower(string(bytes.TrimSpace(name))); {
		case lname == c.trailerName && value == nil:
			value = bytes.Clone(bytes.TrimSpace(v))
		case lname == trailerSigHdr && c.signed && value != nil:
			sig = bytes.TrimSpace(v)
		default:
			return errorf(KindMalformedChunk, "Unexpected trailer %q; x-amz-trailer announced %q.", truncate([]byte(lname)), c.trailerName)
		}
	}
	c.checksum = string(value)
	if c.signed {
		canonical := c.trailerName + ":" + c.checksum + "\n"
		if err := c.checkTrailerSignature([]byte(canonical), sig); err != nil {
			return err
		}
	}
	if got := EncodeChecksum(c.trailerSum); got != c.checksum {
		return errorf(KindBadDigest, "The %s checksum of the body is %s, not the %s of the trailer.", c.trailerAlg, got, truncate(value))
	}
	return nil
}

// drain accepts only line endings after the end of the body.
func (c *chunkedReader) drain() error {
	var b [8]byte
	for {
		n, err := c.br.Read(b[:])
		for _, ch := range b[:n] {
			if ch != '\r' && ch != '\n' {
				return errorf(KindMalformedChunk, "Unexpected data after the end of the aws-chunked body.")
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (c *chunkedReader) checkTrailerSignature(trailers, sig []byte) error {
	var got [32]byte
	if len(sig) != 64 {
		return errorf(KindSignatureMismatch, "The trailer signature is missing or malformed.")
	}
	if _, err := hex.Decode(got[:], sig); err != nil {
		return errorf(KindSignatureMismatch, "The trailer signature is not hexadecimal.")
	}
	sum := sha256.Sum256(trailers)
	sts := []byte(trailerPrefix + "\n" + c.amzDate + "\n" + c.scope + "\n")
	sts = append(sts, c.prevSig[:]...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum[:])
	want := signString(&c.key, sts)
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return &Error{Kind: KindSignatureMismatch, Message: "The trailer signature does not match.", StringToSign: string(sts)}
	}
	return nil
}

// Checksum returns the trailing checksum's algorithm and its verified value; valid after Read
// returned io.EOF.
func (c *chunkedReader) Checksum() (algorithm, value string) {
	return c.trailerAlg, c.checksum
}

// ChunkedLength is the wire length of an aws-chunked body of decoded bytes framed as
// EncodeChunked frames it, for the Content-Length header.
func ChunkedLength(decoded int64, chunkSize int, o ChunkedOptions) int64 {
	if chunkSize <= 0 {
		chunkSize = defaultChunkSize
	}
	cs := int64(chunkSize)
	per := func(n int64) int64 {
		l := int64(len(strconv.FormatInt(n, 16))) + 2 + n + 2
		if o.Signed {
			l += int64(len(";"+chunkSigParam)) + 64
		}
		return l
	}
	total := (decoded / cs) * per(cs)
	if r := decoded % cs; r > 0 {
		total += per(r)
	}
	total += per(0) - 2 // the last chunk has no data, and its CRLF is the trailer section's
	if o.Trailer != "" {
		h, _ := NewChecksum(mustAlg(o.Trailer))
		total += int64(len(strings.ToLower(o.Trailer))+1+len(EncodeChecksum(h))) + 2
		if o.Signed {
			total += int64(len(trailerSigHdr)+1+64) + 2
		}
	}
	return total + 2
}

func mustAlg(trailer string) string {
	alg, _ := ChecksumFromHeader(trailer)
	return alg
}

// EncodeChunked returns a reader of payload framed as an aws-chunked body, in chunks of
// chunkSize bytes (64 KiB when zero), signed when o.Signed, with the checksum trailer o.Trailer
// when set. It is what an S3 client sends with the streaming x-amz-content-sha256 modes.
func EncodeChunked(payload io.Reader, chunkSize int, o ChunkedOptions) io.Reader {
	if chunkSize <= 0 {
		chunkSize = defaultChunkSize
	}
	e := &chunkEncoder{src: payload, buf: make([]byte, chunkSize), o: o}
	if o.Signed {
		e.prev = o.Seed
	}
	if o.Trailer != "" {
		e.sum, _ = NewChecksum(mustAlg(o.Trailer))
	}
	return e
}

type chunkEncoder struct {
	src  io.Reader
	buf  []byte
	out  bytes.Buffer
	o    ChunkedOptions
	prev string
	sum  hash.Hash
	done bool
}

func (e *chunkEncoder) Read(p []byte) (int, error) {
	for e.out.Len() == 0 {
		if e.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(e.src, e.buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return 0, err
		}
		if n > 0 {
			e.writeChunk(e.buf[:n])
		}
		if n < len(e.buf) {
			e.writeEnd()
			e.done = true
		}
	}
	return e.out.Read(p)
}

func (e *chunkEncoder) sign(data []byte) string {
	sum := sha256.Sum256(data)
	sts := chunkPrefix + "\n" + e.o.AmzDate + "\n" + e.o.Scope.String() + "\n" + e.prev + "\n" + EmptySHA256 + "\n" + hex.EncodeToString(sum[:])
	sig := signString(&e.o.Key, []byte(sts))
	e.prev = hex.EncodeToString(sig[:])
	return e.prev
}

func (e *chunkEncoder) writeChunk(data []byte) {
	e.out.WriteString(strconv.FormatInt(int64(len(data)), 16))
	if e.o.Signed {
		e.out.WriteString(";" + chunkSigParam + e.sign(data))
	}
	e.out.WriteString("\r\n")
	e.out.Write(data)
	e.out.WriteString("\r\n")
	if e.sum != nil {
		e.sum.Write(data)
	}
}

func (e *chunkEncoder) writeEnd() {
	e.out.WriteString("0")
	if e.o.Signed {
		e.out.WriteString(";" + chunkSigParam + e.sign(nil))
	}
	e.out.WriteString("\r\n")
	if e.o.Trailer != "" {
		line := strings.ToLower(e.o.Trailer) + ":" + EncodeChecksum(e.sum)
		e.out.WriteString(line + "\r\n")
		if e.o.Signed {
			sum := sha256.Sum256([]byte(line + "\n"))
			sts := trailerPrefix + "\n" + e.o.AmzDate + "\n" + e.o.Scope.String() + "\n" + e.prev + "\n" + hex.EncodeToString(sum[:])
			sig := signString(&e.o.Key, []byte(sts))
			e.out.WriteString(trailerSigHdr + ":" + hex.EncodeToString(sig[:]) + "\r\n")
		}
	}
	e.out.WriteString("\r\n")
}
