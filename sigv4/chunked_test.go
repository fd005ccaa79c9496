package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// AWS's published example of a chunked upload (S3 API reference, "Transferring Payload in
// Multiple Chunks"): 66560 bytes of 'a' in chunks of 65536, example credentials, 2013-05-24.
const (
	docSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docAmzDate   = "20130524T000000Z"
)

var docScope = Scope{Date: "20130524", Region: "us-east-1", Service: "s3"}

func docChunkedRequest(t *testing.T, payloadMode, trailer string, decoded, wire int64) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Amz-Date", docAmzDate)
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", payloadMode)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(decoded, 10))
	if trailer != "" {
		r.Header.Set("X-Amz-Trailer", trailer)
	} else {
		r.Header.Set("Content-Length", strconv.FormatInt(wire, 10))
	}
	return r
}

// seedOf signs the request's headers as the example does and returns the seed signature.
func seedOf(t *testing.T, r *http.Request) string {
	t.Helper()
	params, _ := parseQuery(r.URL.RawQuery)
	c := canonicalRequest{method: r.Method, url: r.URL, params: params, headers: sourceOf(r),
		signed: headerNames(r), payloadHash: r.Header.Get("X-Amz-Content-Sha256")}
	s := &Signer{Credentials: Credentials{AccessKeyID: docAccessKey, SecretAccessKey: docSecret}, Region: "us-east-1"}
	sig, _, err := s.sign(&c, docAmzDate, docScope)
	if err != nil {
		t.Fatal(err)
	}
	return hexString(sig[:])
}

// chunkSignatures returns the chunk-signature values of a signed aws-chunked body, in order,
// and the trailer signature, if any.
func chunkSignatures(body []byte) (chunks []string, trailer string) {
	for _, line := range strings.Split(string(body), "\r\n") {
		if _, sig, ok := strings.Cut(line, ";chunk-signature="); ok && len(sig) == 64 {
			chunks = append(chunks, sig)
		}
		if sig, ok := strings.CutPrefix(line, "x-amz-trailer-signature:"); ok {
			trailer = sig
		}
	}
	return chunks, trailer
}

func TestChunkedMatchesAWSDocumentedSignatures(t *testing.T) {
	payload := bytes.Repeat([]byte{'a'}, 66560)
	key := DeriveKey(docSecret, docScope)

	t.Run("signed chunks", func(t *testing.T) {
		r := docChunkedRequest(t, StreamingPayload, "", 66560, 66824)
		seed := seedOf(t, r)
		if seed != "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9" {
			t.Fatalf("seed signature %s", seed)
		}
		o := ChunkedOptions{Signed: true, Key: key, Scope: docScope, AmzDate: docAmzDate, Seed: seed, DecodedLength: 66560}
		wire, err := io.ReadAll(EncodeChunked(bytes.NewReader(payload), 65536, o))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(wire)) != 66824 || ChunkedLength(66560, 65536, o) != 66824 {
			t.Fatalf("wire length %d (computed %d), want the documented 66824", len(wire), ChunkedLength(66560, 65536, o))
		}
		sigs, _ := chunkSignatures(wire)
		want := []string{
			"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
			"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
			"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
		}
		if strings.Join(sigs, ",") != strings.Join(want, ",") {
			t.Fatalf("chunk signatures\n%v\nwant\n%v", sigs, want)
		}
		got := decodeAll(t, wire, o)
		if !bytes.Equal(got, payload) {
			t.Fatal("decoded payload differs")
		}
	})

	t.Run("signed chunks with trailer", func(t *testing.T) {
		r := docChunkedRequest(t, StreamingPayloadTrailer, "x-amz-checksum-crc32c", 66560, 0)
		seed := seedOf(t, r)
		if seed != "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e" {
			t.Fatalf("seed signature %s", seed)
		}
		o := ChunkedOptions{Signed: true, Key: key, Scope: docScope, AmzDate: docAmzDate, Seed: seed, DecodedLength: 66560, Trailer: "x-amz-checksum-crc32c"}
		wire, err := io.ReadAll(EncodeChunked(bytes.NewReader(payload), 65536, o))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(wire, []byte("\r\nx-amz-checksum-crc32c:sOO8/Q==\r\n")) {
			t.Fatalf("trailer missing or wrong in %q", wire[len(wire)-200:])
		}
		sigs, trailerSig := chunkSignatures(wire)
		if sigs[2] != "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992" {
			t.Fatalf("final chunk signature %s", sigs[2])
		}
		if trailerSig != "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435" {
			t.Fatalf("trailer signature %s", trailerSig)
		}
		if int64(len(wire)) != ChunkedLength(66560, 65536, o) {
			t.Fatalf("wire length %d, ChunkedLength %d", len(wire), ChunkedLength(66560, 65536, o))
		}
		if !bytes.Equal(decodeAll(t, wire, o), payload) {
			t.Fatal("decoded payload differs")
		}
	})
}

func decodeAll(t *testing.T, wire []byte, o ChunkedOptions) []byte {
	t.Helper()
	r, err := NewChunkedReader(bytes.NewReader(wire), o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return got
}

func chunkOptions(signed bool, trailer string, n int64) ChunkedOptions {
	o := ChunkedOptions{Signed: signed, DecodedLength: n, Trailer: trailer}
	if signed {
		o.Key, o.Scope, o.AmzDate = DeriveKey(docSecret, docScope), docScope, docAmzDate
		o.Seed = strings.Repeat("ab", 32)
	}
	return o
}

func TestChunkedRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signed  bool
		trailer string
		size    int
		chunk   int
	}{
		{"signed empty", true, "", 0, 8192},
		{"signed one byte", true, "", 1, 8192},
		{"signed exact chunks", true, "", 3 * 8192, 8192},
		{"signed odd", true, "", 100_003, 8192},
		{"signed trailer crc32", true, "x-amz-checksum-crc32", 70_000, 65536},
		{"signed trailer sha256", true, "x-amz-checksum-sha256", 5, 8192},
		{"unsigned trailer crc64nvme", false, "x-amz-checksum-crc64nvme", 200_000, 65536},
		{"unsigned trailer crc32c empty", false, "x-amz-checksum-crc32c", 0, 65536},
		{"unsigned trailer sha1", false, "x-amz-checksum-sha1", 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.size)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			o := chunkOptions(tc.signed, tc.trailer, int64(tc.size))
			wire, err := io.ReadAll(EncodeChunked(bytes.NewReader(payload), tc.chunk, o))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(wire)) != ChunkedLength(int64(tc.size), tc.chunk, o) {
				t.Fatalf("wire %d bytes, ChunkedLength says %d", len(wire), ChunkedLength(int64(tc.size), tc.chunk, o))
			}
			// Read through a reader that returns one byte at a time, to cross every boundary.
			r, err := newChunkedReader(iotestOneByte{bytes.NewReader(wire)}, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatal("payload differs")
			}
			if tc.trailer != "" {
				alg, v := r.Checksum()
				if alg == "" || v == "" {
					t.Fatal("trailer checksum not reported")
				}
			}
		})
	}
}

type iotestOneByte struct{ r io.Reader }

func (o iotestOneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// TestChunkedRejectsTampering alters one thing of a valid body at a time; every alteration
// must fail with the stated kind and never end in io.EOF.
func TestChunkedRejectsTampering(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB: four chunks of 8 KiB
	encode := func(o ChunkedOptions) []byte {
		b, err := io.ReadAll(EncodeChunked(bytes.NewReader(payload), 8192, o))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signed := chunkOptions(true, "", int64(len(payload)))
	signedTrailer := chunkOptions(true, "x-amz-checksum-crc32c", int64(len(payload)))
	unsignedTrailer := chunkOptions(false, "x-amz-checksum-crc32", int64(len(payload)))
	sw, stw, uw := encode(signed), encode(signedTrailer), encode(unsignedTrailer)
	replace := func(b []byte, old, new string) []byte {
		i := bytes.Index(b, []byte(old))
		if i < 0 {
			t.Fatalf("%q not in body", old)
		}
		out := append([]byte{}, b[:i]...)
		out = append(out, new...)
		return append(out, b[i+len(old):]...)
	}
	flip := func(b []byte, at int) []byte {
		out := append([]byte{}, b...)
		out[at] ^= 1
		return out
	}
	lines := func(b []byte) []string { return strings.Split(string(b), "\r\n") }
	swapChunks := func(b []byte) []byte {
		l := lines(b)
		// l[0] header1, l[1] data1, l[2] header2, l[3] data2 ...
		l[0], l[2] = l[2], l[0]
		l[1], l[3] = l[3], l[1]
		return []byte(strings.Join(l, "\r\n"))
	}
	dropChunk := func(b []byte) []byte {
		l := lines(b)
		return []byte(strings.Join(append(l[:2:2], l[4:]...), "\r\n"))
	}
	for _, tc := range []struct {
		name string
		o    ChunkedOptions
		wire []byte
		kind Kind
	}{
		{"data byte flipped", signed, flip(sw, 200), KindSignatureMismatch},
		{"chunk signature altered", signed, alterAfter(sw, "chunk-signature=", 0), KindSignatureMismatch},
		{"chunk signature not hex", signed, replace(sw, "chunk-signature=", "chunk-signature=z"), KindMalformedChunk},
		{"chunks swapped", signed, swapChunks(sw), KindSignatureMismatch},
		{"chunk dropped", signed, dropChunk(sw), KindSignatureMismatch},
		{"final chunk signature wrong", signed, alterAfter(sw, "\r\n0;chunk-signature=", 0), KindSignatureMismatch},
		{"truncated mid chunk", signed, sw[:5000], KindIncompleteBody},
		{"truncated before final chunk", signed, sw[:len(sw)-90], KindIncompleteBody},
		{"data after the end", signed, append(append([]byte{}, sw...), "junk"...), KindMalformedChunk},
		{"size larger than data", signed, replace(sw, "2000;", "2001;"), KindMalformedChunk},
		{"size not hex", signed, replace(sw, "2000;", "20x0;"), KindMalformedChunk},
		{"size overflows", signed, replace(sw, "2000;", "fffffffffffffffff;"), KindMalformedChunk},
		{"unsigned chunk in signed mode", signed, []byte("5\r\nhello\r\n0\r\n\r\n"), KindMalformedChunk},
		{"decoded length too small", withLength(signed, 100), sw, KindIncompleteBody},
		{"decoded length too large", withLength(signed, int64(len(payload))+1), sw, KindIncompleteBody},
		{"line too long", signed, append(bytes.Repeat([]byte{'1'}, 5000), "\r\n"...), KindMalformedChunk},
		{"trailer checksum wrong (signed)", signedTrailer, replaceChecksum(t, stw), KindSignatureMismatch},
		{"trailer signature wrong", signedTrailer, alterAfter(stw, "x-amz-trailer-signature:", 0), KindSignatureMismatch},
		{"trailer signature missing", signedTrailer, cutFrom(stw, "x-amz-trailer-signature:"), KindIncompleteBody},
		{"trailer missing", unsignedTrailer, cutFrom(uw, "x-amz-checksum-crc32:"), KindIncompleteBody},
		{"trailer checksum wrong (unsigned)", unsignedTrailer, replaceChecksum(t, uw), KindBadDigest},
		{"unannounced trailer", unsignedTrailer, replace(uw, "x-amz-checksum-crc32:", "x-amz-meta-evil:"), KindMalformedChunk},
		{"unsigned data flipped", unsignedTrailer, flip(uw, 100), KindBadDigest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewChunkedReader(bytes.NewReader(tc.wire), tc.o)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.kind {
				t.Fatalf("got %v, want kind %v", err, tc.kind)
			}
		})
	}
}

// alterAfter changes the hex digit at offset off after the first occurrence of marker.
func alterAfter(b []byte, marker string, off int) []byte {
	i := bytes.Index(b, []byte(marker)) + len(marker) + off
	out := append([]byte{}, b...)
	if out[i] == '0' {
		out[i] = '1'
	} else {
		out[i] = '0'
	}
	return out
}

func withLength(o ChunkedOptions, n int64) ChunkedOptions {
	o.DecodedLength = n
	return o
}

func cutFrom(b []byte, marker string) []byte {
	i := bytes.Index(b, []byte(marker))
	return append(append([]byte{}, b[:i]...), "\r\n"...)
}

// replaceChecksum changes the value of the checksum trailer line.
func replaceChecksum(t *testing.T, b []byte) []byte {
	i := bytes.Index(b, []byte("x-amz-checksum-"))
	j := bytes.IndexByte(b[i:], ':') + i + 1
	out := append([]byte{}, b...)
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}

// TestChunkedAcceptsMinioGoTrailerFraming: minio-go ends trailer lines with "\n" and writes an
// extra blank line before the trailer signature and after the end.
func TestChunkedAcceptsMinioGoTrailerFraming(t *testing.T) {
	payload := []byte("hello, trailer")
	for _, signed := range []bool{false, true} {
		o := chunkOptions(signed, "x-amz-checksum-crc32c", int64(len(payload)))
		wire, _ := io.ReadAll(EncodeChunked(bytes.NewReader(payload), 8192, o))
		s := string(wire)
		i := strings.Index(s, "x-amz-checksum-crc32c:")
		j := strings.Index(s[i:], "\r\n") + i
		s = s[:j] + "\n\r\n" + s[j+2:] + "\r\n"
		if !bytes.Equal(decodeAll(t, []byte(s), o), payload) {
			t.Fatalf("signed=%v: payload differs", signed)
		}
	}
}

func TestPayloadReaderChecksSignedSHA256(t *testing.T) {
	body := "Welcome to Amazon S3."
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{{"intact", body, true}, {"altered", body + "!", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/b/k", strings.NewReader(tc.body))
			a := &Auth{Mode: HeaderAuth, PayloadHash: bodyHash([]byte(body))}
			p, err := NewPayloadReader(a, r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(p)
			var e *Error
			switch {
			case tc.ok && err != nil:
				t.Fatalf("intact body rejected: %v", err)
			case !tc.ok && (!errors.As(err, &e) || e.Kind != KindContentSHA256Mismatch):
				t.Fatalf("altered body: got %v, want KindContentSHA256Mismatch", err)
			}
		})
	}
}

func TestPayloadReaderRequiresTrailerHeaderForTrailerModes(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/b/k", strings.NewReader("0\r\n\r\n"))
	r.Header.Set("X-Amz-Decoded-Content-Length", "0")
	_, err := NewPayloadReader(&Auth{Mode: HeaderAuth, PayloadHash: StreamingUnsignedTrailer, AmzDate: docAmzDate, Date: time.Now()}, r)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindMalformedChunk {
		t.Fatalf("got %v, want KindMalformedChunk", err)
	}
}
