// Package storage is presign's storage node: an http.Handler (Server) that speaks the S3 REST
// API with AWS SigV4, enforces presign's extensions to it, and keeps the bytes in a Backend.
// Clients reach it with presigned URLs the control plane signed, or with any S3 SDK. It never
// imports the control plane: the two meet only over the network (signed URLs, signed event
// deliveries, the revocation call).
//
// The package holds three things, and the files say which is which.
//
// # The S3 face
//
// Server (server.go) authenticates each request (SigV4 in a header, presigned in the query, or
// a POST policy), checks revocations, routes by bucket and key, and answers in S3's XML. Each
// operation family has its file: bucket.go (buckets), object_put.go, object_get.go,
// object_delete.go, copy.go and list.go (objects), multipart.go, multipart_complete.go and
// multipart_list.go (multipart uploads), post.go (browser form uploads), cors.go and
// cors_cache.go (CORS), revoke.go (withdrawn URLs and the revocation endpoint), notify.go (the
// events of changes). errors.go is the one table from errors to S3 codes; names.go holds the
// rules of bucket names and keys. The X-Presign-* extensions (package extension) are enforced
// here: a body cap, single-use URLs backed by a NonceStore, and revocation by ticket or user
// backed by a RevocationStore. Start reading at Server.ServeHTTP.
//
// # The backend seam
//
// A Backend (backend.go) keeps buckets and objects and knows nothing of HTTP. What only some
// backends can do is a small interface of its own that the face discovers by a type assertion:
// Multiparter (multipart_backend.go), BucketCORSStore (cors_backend.go), SelectiveMD5, and
// PartedObject for an Object (backend.go). NonceStore, RevocationStore and EventLog are the node's other
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
// The helpers need the same types. What is not the face's (the disk layout, an S3 client, Redis)
// lives in subpackages that import storage, never the reverse; storage itself imports only
// sigv4, events and extension of the project.
package storage
