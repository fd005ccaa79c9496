// Package storage is presign's storage node: an http.Handler (Server) that speaks the S3 REST
// API with AWS SigV4 (and SigV2 for the tools that still make it), enforces presign's
// extensions to it, and keeps the bytes in a Backend. Clients reach it with presigned URLs the
// control plane signed, or with any S3 SDK or tool. It never imports the control plane: the two
// meet only over the network (signed URLs, signed event deliveries, the revocation call).
//
// The package holds three things, and the files say which is which.
//
// # The S3 face
//
// Server (server.go) names each request's S3 operation (operations.go), authenticates it
// (auth.go: SigV4 in a header or presigned in the query, SigV2 likewise, or none for the reads
// a bucket policy opens; post_auth.go for POST forms), checks revocations, routes by bucket and
// key, and answers in S3's XML; accesslog.go writes the access log line. Each operation family
// has its file: bucket.go (buckets), object_put.go, object_get.go, object_delete.go, copy.go
// and list.go (objects), multipart.go, multipart_complete.go and multipart_list.go (multipart
// uploads), post.go (browser form uploads), cors.go (CORS), versioning.go (the version reads
// of buckets that are never versioned), acl.go (the owner-only ACLs), bucket_policy.go and
// bucket_policy_ops.go (the one bucket policy accepted, anonymous read of a prefix),
// revoke.go (withdrawn URLs and the revocation endpoint), notify.go (the events of changes).
// errors.go is the one table from errors to S3 codes; names.go holds the rules of bucket names
// and keys; digests.go reads the declared Content-MD5 and checksums; meta_encoding.go and
// stored_headers.go decide which headers an object keeps and how they come back;
// bucket_cache.go remembers a bucket's CORS rules and policy for a few seconds. The X-Presign-*
// extensions (package extension) are enforced here, under SigV4 only: a body cap, single-use
// URLs backed by a NonceStore, and revocation by ticket or user backed by a RevocationStore.
// Start reading at Server.ServeHTTP.
//
// # The backend seam
//
// A Backend (backend.go) keeps buckets and objects and knows nothing of HTTP. What only some
// backends can do is a small interface of its own that the face discovers by a type
// assertion: Multiparter (multipart_backend.go), BucketCORSStore (cors_backend.go),
// BucketPolicyStore (bucket_policy_store.go), SelectiveMD5, and PartedObject for an Object
// (backend.go). NonceStore, RevocationStore, EventLog and RequestObserver are the node's other
// seams. storage/disk keeps everything on local disk, storage/s3backend relays to any S3
// service, storage/redisstore and storage/nodestate keep nonces and revocations, and
// storage/storagetest is the contract suite each of them passes.
//
// # Helpers the backends call
//
// Whatever two backends must do alike is written once here, so that they cannot drift: the
// checked Body that counts, hashes and verifies a request's bytes as they pass (NewBody and
// Fill in body.go, with the parallel hashing pipe in body_pipe.go); the rules of a multipart
// completion (CheckPartList and CheckCompletion in multipart_rules.go) and the digests they
// compute (MultipartETag and MultipartChecksum in multipart_checksum.go); and the sentinel
// errors that the face turns into S3's codes.
//
// # Why one package
//
// The face and the seam share one vocabulary: Body, ObjectInfo, PartInfo, the options and the
// sentinel errors are what a backend receives and returns and what the face translates to and
// from the wire. Splitting the face from the seam would make every backend import two packages
// for one contract, and would leave the error table in one package and the errors in another.
// The helpers need the same types. What is not the face's (the disk layout, an S3 client,
// Redis) lives in subpackages that import storage, never the reverse; storage itself imports
// of the project only sigv4, sigv2, events, extension and two internal packages
// (internal/clientlimit for slow clients, internal/metricsauth for the metrics endpoint).
package storage
