package storage

import "net/http"

// An S3 operation, resolved from a request before it is authenticated (so that the access log
// names it whatever happens next) and served after.
type operation uint8

// The operations, and the answers of requests that name none.
const (
	opUnsupported operation = iota
	opMethodNotAllowed
	opListBuckets
	opGetBucketLocation
	opGetBucketVersioning
	opPutBucketVersioning
	opListObjectVersions
	opGetBucketPolicy
	opPutBucketPolicy
	opDeleteBucketPolicy
	opGetBucketAcl
	opPutBucketAcl
	opGetBucketCors
	opPutBucketCors
	opDeleteBucketCors
	opListObjects
	opListObjectsV2
	opListMultipartUploads
	opHeadBucket
	opCreateBucket
	opDeleteBucket
	opDeleteObjects
	opGetObjectAcl
	opPutObjectAcl
	opPutObject
	opCopyObject
	opGetObject
	opHeadObject
	opDeleteObject
	opCreateMultipartUpload
	opCompleteMultipartUpload
	opUploadPart
	opUploadPartCopy
	opListParts
	opAbortMultipartUpload
	opPartNeedsUpload
)

var operationNames = [...]string{
	opUnsupported: "Unsupported", opMethodNotAllowed: "MethodNotAllowed", opListBuckets: "ListBuckets",
	opGetBucketLocation: "GetBucketLocation", opGetBucketVersioning: "GetBucketVersioning",
	opPutBucketVersioning: "PutBucketVersioning", opListObjectVersions: "ListObjectVersions",
	opGetBucketPolicy: "GetBucketPolicy", opPutBucketPolicy: "PutBucketPolicy", opDeleteBucketPolicy: "DeleteBucketPolicy",
	opGetBucketAcl: "GetBucketAcl", opPutBucketAcl: "PutBucketAcl", opGetBucketCors: "GetBucketCors",
	opPutBucketCors: "PutBucketCors", opDeleteBucketCors: "DeleteBucketCors", opListObjects: "ListObjects",
	opListObjectsV2: "ListObjectsV2", opListMultipartUploads: "ListMultipartUploads", opHeadBucket: "HeadBucket",
	opCreateBucket: "CreateBucket", opDeleteBucket: "DeleteBucket", opDeleteObjects: "DeleteObjects",
	opGetObjectAcl: "GetObjectAcl", opPutObjectAcl: "PutObjectAcl", opPutObject: "PutObject", opCopyObject: "CopyObject",
	opGetObject: "GetObject", opHeadObject: "HeadObject", opDeleteObject: "DeleteObject",
	opCreateMultipartUpload: "CreateMultipartUpload", opCompleteMultipartUpload: "CompleteMultipartUpload",
	opUploadPart: "UploadPart", opUploadPartCopy: "UploadPartCopy", opListParts: "ListParts",
	opAbortMultipartUpload: "AbortMultipartUpload", opPartNeedsUpload: "UploadPart",
}

// String is the operation's S3 name, as the access log gives it.
func (o operation) String() string { return operationNames[o] }

// unsupported are S3 subresources this node does not implement; a request naming one is
// answered NotImplemented rather than being mistaken for a plain object or bucket request.
var unsupported = []string{
	"accelerate", "analytics", "attributes", "encryption", "intelligent-tiering", "inventory",
	"legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls",
	"policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
	"retention", "select", "tagging", "torrent", "website",
}

// operation resolves a request to its S3 operation: the one place where method, bucket, key
// and sub-resources decide what a request does.
func (s *Server) operation(r *http.Request, req *request) operation {
	for _, sub := range unsupported {
		if _, ok := req.query[sub]; ok {
			return opUnsupported
		}
	}
	switch {
	case req.bucket == "":
		if r.Method != http.MethodGet {
			return opMethodNotAllowed
		}
		return opListBuckets
	case req.key == "":
		return bucketOperation(r, req)
	}
	return objectOperation(r, req)
}

func bucketOperation(r *http.Request, req *request) operation {
	q := req.query
	switch r.Method {
	case http.MethodGet:
		switch {
		case has(q, "location"):
			return opGetBucketLocation
		case has(q, "versioning"):
			return opGetBucketVersioning
		case has(q, "versions"):
			return opListObjectVersions
		case has(q, "policy"):
			return opGetBucketPolicy
		case has(q, "acl"):
			return opGetBucketAcl
		case q.Get("list-type") == "2":
			return opListObjectsV2
		case has(q, "cors"):
			return opGetBucketCors
		case has(q, "uploads"):
			return opListMultipartUploads
		}
		return opListObjects
	case http.MethodHead:
		return opHeadBucket
	case http.MethodPut:
		switch {
		case has(q, "cors"):
			return opPutBucketCors
		case has(q, "versioning"):
			return opPutBucketVersioning
		case has(q, "policy"):
			return opPutBucketPolicy
		case has(q, "acl"):
			return opPutBucketAcl
		}
		return opCreateBucket
	case http.MethodDelete:
		switch {
		case has(q, "cors"):
			return opDeleteBucketCors
		case has(q, "policy"):
			return opDeleteBucketPolicy
		}
		return opDeleteBucket
	case http.MethodPost:
		if has(q, "delete") {
			return opDeleteObjects
		}
		return opUnsupported
	}
	return opMethodNotAllowed
}

func objectOperation(r *http.Request, req *request) operation {
	q := req.query
	// A partNumber alone reads one part of an object (GET, HEAD); with any other method it
	// belongs to an upload.
	readPart := has(q, "partNumber") && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	if has(q, "uploadId") || has(q, "uploads") || (has(q, "partNumber") && !readPart) {
		return multipartOperation(r, req)
	}
	if has(q, "acl") {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return opGetObjectAcl
		case http.MethodPut:
			return opPutObjectAcl
		}
		return opMethodNotAllowed
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return opCopyObject
		}
		return opPutObject
	case http.MethodGet:
		return opGetObject
	case http.MethodHead:
		return opHeadObject
	case http.MethodDelete:
		return opDeleteObject
	}
	return opMethodNotAllowed
}

func multipartOperation(r *http.Request, req *request) operation {
	q := req.query
	hasUpload := has(q, "uploadId")
	switch r.Method {
	case http.MethodPost:
		switch {
		case has(q, "uploads"):
			return opCreateMultipartUpload
		case hasUpload:
			return opCompleteMultipartUpload
		}
	case http.MethodPut:
		switch {
		case !hasUpload || !has(q, "partNumber"):
			return opPartNeedsUpload
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return opUploadPartCopy
		}
		return opUploadPart
	case http.MethodGet:
		if hasUpload {
			return opListParts
		}
	case http.MethodDelete:
		if hasUpload {
			return opAbortMultipartUpload
		}
	}
	return opMethodNotAllowed
}

// serveOperation runs an authenticated request's operation. Handlers are called directly, not
// through function values, so that the request does not escape to the heap.
func (s *Server) serveOperation(o operation, w http.ResponseWriter, r *http.Request, req *request) error {
	switch o {
	case opUnsupported:
		return errNotImplemented
	case opMethodNotAllowed:
		return errMethodNotAllowed
	case opListBuckets:
		return s.listBuckets(w, r, req)
	case opGetBucketLocation:
		return s.getBucketLocation(w, r, req)
	case opGetBucketVersioning:
		return s.getBucketVersioning(w, r, req)
	case opPutBucketVersioning:
		return s.putBucketVersioning(w, r, req)
	case opListObjectVersions:
		return s.listObjectVersions(w, r, req)
	case opGetBucketPolicy:
		return s.getBucketPolicy(w, r, req)
	case opPutBucketPolicy:
		return s.putBucketPolicy(w, r, req)
	case opDeleteBucketPolicy:
		return s.deleteBucketPolicy(w, r, req)
	case opGetBucketAcl, opGetObjectAcl:
		return s.getACL(w, r, req)
	case opPutBucketAcl, opPutObjectAcl:
		return s.putACL(w, r, req)
	case opGetBucketCors:
		return s.getBucketCors(w, r, req)
	case opPutBucketCors:
		return s.putBucketCors(w, r, req)
	case opDeleteBucketCors:
		return s.deleteBucketCors(w, r, req)
	case opListObjects:
		return s.listObjectsV1(w, r, req)
	case opListObjectsV2:
		return s.listObjectsV2(w, r, req)
	case opListMultipartUploads:
		return s.listMultipartUploads(w, r, req)
	case opHeadBucket:
		return s.headBucket(w, r, req)
	case opCreateBucket:
		return s.createBucket(w, r, req)
	case opDeleteBucket:
		return s.deleteBucket(w, r, req)
	case opDeleteObjects:
		return s.deleteObjects(w, r, req)
	case opPutObject:
		return s.putObject(w, r, req)
	case opCopyObject:
		return s.copyObject(w, r, req)
	case opGetObject, opHeadObject:
		return s.getObject(w, r, req)
	case opDeleteObject:
		return s.deleteObject(w, r, req)
	case opPartNeedsUpload:
		return errPartNeedsUpload
	}
	mp, ok := s.cfg.Backend.(Multiparter)
	if !ok {
		return errNotImplemented
	}
	switch o {
	case opCreateMultipartUpload:
		return s.createMultipartUpload(w, r, req, mp)
	case opCompleteMultipartUpload:
		return s.completeMultipartUpload(w, r, req, mp)
	case opUploadPart:
		return s.uploadPart(w, r, req, mp)
	case opUploadPartCopy:
		return s.uploadPartCopy(w, r, req, mp)
	case opListParts:
		return s.listParts(w, r, req, mp)
	case opAbortMultipartUpload:
		return s.abortMultipartUpload(w, r, req, mp)
	}
	return errMethodNotAllowed
}
