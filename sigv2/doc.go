// Package sigv2 implements AWS Signature Version 2 as S3 speaks it, for the storage node to
// accept requests from the S3 tools that still make it by default: the presigned URLs of
// boto3, the aws CLI v1, s3cmd and s3fs, and those tools' header-signed requests when told to
// use it.
//
// A SigV2 signature is HMAC-SHA1 with the secret key over a string to sign:
//
//	VERB \n Content-MD5 \n Content-Type \n Date-or-Expires \n
//	x-amz-name:value \n ...                  (lower-case, sorted, values joined by ",")
//	/bucket/escaped/path?sub-resources        (sorted; values decoded)
//
// It travels in three places, each verified here:
//
//   - the Authorization header, "AWS <access key>:<base64 signature>" (Verifier.Verify); the
//     request's Date, or x-amz-date which then empties the date line, must be within the clock
//     skew;
//   - the query of a presigned URL, AWSAccessKeyId, Expires (seconds since the epoch, which
//     takes the date line) and Signature (Verifier.Verify); Content-Type, Content-MD5 and
//     x-amz-* may ride in the query too, as botocore puts them there, and then count as the
//     request's headers (Auth.Header);
//   - a browser form, whose signature is the HMAC of the base64 policy (Verifier.VerifyPost).
//     The policy's conditions are the same as Signature Version 4's and are not checked here.
//
// What SigV2 does not sign matters more than what it does: only the sub-resources S3 lists
// (acl, uploadId, versionId, response-content-type, ...) enter the string to sign; every other
// query parameter can be changed by whoever holds the URL. Auth.Signs tells which parameters
// are covered, so that a server never takes a promise from an unsigned one. No payload hash is
// signed either: the body is protected only by a Content-MD5 header, when the client signs one.
//
// Failures are *Error values whose Kind maps to one S3 error code and HTTP status, with the
// details S3 puts in its XML body (Error.Fields), as in package sigv4. Signatures are compared
// in constant time. Signer makes all three forms, for tests and tools: presign itself signs
// with Signature Version 4 only.
//
// Of presign it imports only sigv4, whose credential store, error field and clock-skew bound
// it shares, and it keeps no global state. Start reading at
// Verifier.Verify.
package sigv2
