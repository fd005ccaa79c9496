// Package sigv4 implements AWS Signature Version 4 as S3 speaks it, for both sides: the control
// plane that presigns URLs and the storage node that verifies every request.
//
// It covers the three places a signature can travel:
//
//   - the Authorization header (Signer.SignRequest, Verifier.Verify), with the payload hash of
//     x-amz-content-sha256: a hex SHA-256, UNSIGNED-PAYLOAD, or an aws-chunked stream
//     (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], STREAMING-UNSIGNED-PAYLOAD-TRAILER);
//   - the query string of a presigned URL (Signer.Presign, Verifier.Verify);
//   - a browser form with a POST policy (Signer.SignPost, Verifier.VerifyPost).
//
// The canonical request is built exactly as S3 builds it: the path is encoded once and never
// normalised ("a//b/../c" is signed as is), the query is sorted by encoded name and encoded
// per RFC 3986 (a space is %20, never '+'), header values are trimmed with inner runs of
// whitespace folded, and the signed header names are lower-case and sorted. The package passes
// AWS's own test suites (testdata/), and URLs and requests from aws-sdk-go-v2 and minio-go.
//
// Verification is split from payload checking so that no body is ever buffered: Verify checks
// the signature over the request line and headers, and NewPayloadReader then wraps the body in
// a reader that checks the signed SHA-256, the chained chunk signatures, the trailer signature
// and the trailing checksum as the bytes flow past, returning io.EOF only when all of it held.
//
// Failures are *Error values whose Kind maps one to one to an S3 error code and HTTP status
// (Kind.Code, Kind.Status), with the details S3 puts in its XML body (Error.Fields). Time rules
// follow S3: a presigned URL expires exactly X-Amz-Expires seconds after X-Amz-Date; the clock
// skew allowance (15 minutes) only lets a URL signed slightly in the future work early, and
// never extends its life; a header-signed request must be within the skew either way.
// Signatures are compared in constant time. Signing keys are derived once per secret, day,
// region and service and kept in a KeyCache.
//
// The package imports nothing else of presign and keeps no global state.
package sigv4
