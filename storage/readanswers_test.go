package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"presign/storage"
)

// The reads tools make of versioning, policies and ACLs, answered as S3 answers an unversioned
// bucket with no policy, owned by one account.

func sdkCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestVersioningReadsOfAnUnversionedBucket: GetBucketVersioning is an empty configuration,
// ListObjectVersions lists each object once as version "null" with S3's pagination, version
// "null" can be read and deleted, and turning versioning on is 501 with a message.
func TestVersioningReadsOfAnUnversionedBucket(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	c, ctx := n.awsClient(), context.Background()
	b := aws.String(formBucket)
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if err != nil || v.Status != "" || v.MFADelete != "" {
		t.Fatalf("GetBucketVersioning: %+v %v", v, err)
	}
	if _, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("missing")}); sdkCode(err) != "NoSuchBucket" {
		t.Fatalf("GetBucketVersioning of a missing bucket: %v", err)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	if sdkCode(err) != "NotImplemented" || !strings.Contains(err.Error(), "versioning") {
		t.Fatalf("PutBucketVersioning Enabled: %v", err)
	}
	keys := []string{"a/1", "a/2", "b/1", "b/2", "c", "d"}
	for _, k := range keys {
		c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)})
	}
	// Pages of two with a delimiter: a/ b/ | c d.
	var got []string
	in := &s3.ListObjectVersionsInput{Bucket: b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)}
	for page := 0; ; page++ {
		out, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, *p.Prefix)
		}
		for _, v := range out.Versions {
			if *v.VersionId != "null" || !*v.IsLatest || *v.Size != int64(len(*v.Key)) {
				t.Fatalf("version %+v", v)
			}
			got = append(got, *v.Key)
		}
		if !*out.IsTruncated {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
		if page > 5 {
			t.Fatal("listing does not end")
		}
	}
	if fmt.Sprint(got) != "[a/ b/ c d]" {
		t.Fatalf("versions with a delimiter, in pages of 2: %v", got)
	}
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Prefix: aws.String("b/"), KeyMarker: aws.String("b/1"), VersionIdMarker: aws.String("null")})
	if err != nil || len(out.Versions) != 1 || *out.Versions[0].Key != "b/2" {
		t.Fatalf("versions after b/1 null: %+v %v", out, err)
	}
	if _, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, VersionIdMarker: aws.String("null")}); sdkCode(err) != "InvalidArgument" {
		t.Fatalf("a version-id marker without a key marker: %v", err)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("c"), VersionId: aws.String("null")})
	if err != nil || aws.ToString(g.VersionId) != "null" {
		t.Fatalf("GetObject version null: %+v %v", g, err)
	}
	g.Body.Close()
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("c"), VersionId: aws.String("3HL4kqtJlcpXroDTDmJ")}); sdkCode(err) != "InvalidArgument" {
		t.Fatalf("GetObject of another version: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("c"), VersionId: aws.String("null")}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("d"), VersionId: aws.String("null")}, {Key: aws.String("a/1"), VersionId: aws.String("v2")}}}})
	if err != nil || len(del.Deleted) != 1 || aws.ToString(del.Deleted[0].VersionId) != "null" || len(del.Errors) != 1 || aws.ToString(del.Errors[0].Code) != "NoSuchVersion" {
		t.Fatalf("DeleteObjects with version ids: %+v %v", del, err)
	}
	for key, want := range map[string]bool{"c": false, "d": false, "a/1": true} {
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key)}); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", key, err == nil, want)
		}
	}
}

// TestACLReadsAndPrivateWrites: the owner has FULL_CONTROL; writes that keep things private
// are accepted, and any grant to someone else refused, storing nothing.
func TestACLReadsAndPrivateWrites(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	c, ctx := n.awsClient(), context.Background()
	b, k := aws.String(formBucket), aws.String("obj")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatalf("PutObject with ACL private: %v", err)
	}
	ba, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b})
	if err != nil || len(ba.Grants) != 1 || ba.Grants[0].Permission != types.PermissionFullControl || *ba.Grants[0].Grantee.ID != *ba.Owner.ID {
		t.Fatalf("GetBucketAcl: %+v %v", ba, err)
	}
	oa, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: k})
	if err != nil || len(oa.Grants) != 1 || oa.Grants[0].Permission != types.PermissionFullControl || oa.Grants[0].Grantee.Type != types.TypeCanonicalUser {
		t.Fatalf("GetObjectAcl: %+v %v", oa, err)
	}
	if _, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: aws.String("missing")}); sdkCode(err) != "NoSuchKey" {
		t.Fatalf("GetObjectAcl of a missing key: %v", err)
	}
	for _, acl := range []types.ObjectCannedACL{types.ObjectCannedACLPrivate, types.ObjectCannedACLBucketOwnerFullControl} {
		if _, err := c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: k, ACL: acl}); err != nil {
			t.Errorf("PutObjectAcl %s: %v", acl, err)
		}
	}
	// What s3cmd cp sends back: the ACL it read.
	if _, err := c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: k, AccessControlPolicy: &types.AccessControlPolicy{Owner: oa.Owner, Grants: oa.Grants}}); err != nil {
		t.Errorf("PutObjectAcl with the ACL read back: %v", err)
	}
	public := &types.AccessControlPolicy{Owner: oa.Owner, Grants: append(oa.Grants, types.Grant{Permission: types.PermissionRead,
		Grantee: &types.Grantee{Type: types.TypeGroup, URI: aws.String("http://acs.amazonaws.com/groups/global/AllUsers")}})}
	for name, do := range map[string]func() error{
		"PutObjectAcl public-read": func() error {
			_, err := c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: k, ACL: types.ObjectCannedACLPublicRead})
			return err
		},
		"PutObjectAcl granting AllUsers": func() error {
			_, err := c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: k, AccessControlPolicy: public})
			return err
		},
		"PutBucketAcl public-read-write": func() error {
			_, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicReadWrite})
			return err
		},
		"PutObject public-read": func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("public"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
			return err
		},
		"PutObject with a grant header": func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("public"), Body: strings.NewReader("x"), GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AllUsers"`)})
			return err
		},
		"CopyObject public-read": func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("public"), CopySource: aws.String(formBucket + "/obj"), ACL: types.ObjectCannedACLPublicRead})
			return err
		},
		"CreateMultipartUpload public-read": func() error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("public"), ACL: types.ObjectCannedACLPublicRead})
			return err
		},
	} {
		if err := do(); sdkCode(err) != "AccessControlListNotSupported" || !strings.Contains(err.Error(), "private") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("public")}); err == nil {
		t.Fatal("a refused write stored an object")
	}
}

// TestAnonymousReadByBucketPolicy: with no policy, GetBucketPolicy is NoSuchBucketPolicy and
// unsigned requests are refused; the policy mc writes for "anonymous set download" opens GET
// and HEAD of its prefix and nothing else; other policies are MalformedPolicy; removing it
// closes the prefix again.
func TestAnonymousReadByBucketPolicy(t *testing.T) {
	n := startFormNode(t, storage.Config{PrivateBuckets: []string{"control"}}, nil)
	c, ctx := n.awsClient(), context.Background()
	b := aws.String(formBucket)
	for _, k := range []string{"pub/a.png", "private/b"} {
		c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)})
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b}); sdkCode(err) != "NoSuchBucketPolicy" {
		t.Fatalf("GetBucketPolicy without one: %v", err)
	}
	anon := func(method, path string) (int, []byte) {
		resp, body := send(t, method, n.URL+path, nil, nil)
		return resp.StatusCode, body
	}
	if st, _ := anon(http.MethodGet, "/"+formBucket+"/pub/a.png"); st != 403 {
		t.Fatalf("anonymous GET without a policy: %d", st)
	}
	policy := strings.ReplaceAll(`{"Version":"2012-10-17","Statement":[{"Action":["s3:GetBucketLocation"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::BKT"],"Sid":""},{"Action":["s3:ListBucket"],"Condition":{"StringEquals":{"s3:prefix":["pub/"]}},"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::BKT"],"Sid":""},{"Action":["s3:GetObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::BKT/pub/*"],"Sid":""}]}`, "BKT", formBucket)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	if err != nil || *got.Policy != policy {
		t.Fatalf("GetBucketPolicy: %v %v", got, err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/" + formBucket + "/pub/a.png", 200, "pub/a.png"},
		{http.MethodHead, "/" + formBucket + "/pub/a.png", 200, ""},
		{http.MethodGet, "/" + formBucket + "/private/b", 403, "AccessDenied"},
		{http.MethodGet, "/" + formBucket + "/pub/missing", 404, "NoSuchKey"},
		{http.MethodGet, "/" + formBucket + "?prefix=pub%2F", 200, "<Key>pub/a.png</Key>"},
		{http.MethodGet, "/" + formBucket + "?list-type=2&prefix=pub%2F", 200, "<Key>pub/a.png</Key>"},
		{http.MethodGet, "/" + formBucket + "?prefix=private%2F", 403, "AccessDenied"},
		{http.MethodGet, "/" + formBucket, 403, "AccessDenied"},
		{http.MethodGet, "/" + formBucket + "?location", 200, "LocationConstraint"},
		{http.MethodGet, "/" + formBucket + "/pub/a.png?response-content-type=text%2Fhtml", 400, "InvalidRequest"},
		{http.MethodGet, "/" + formBucket + "/pub/a.png?acl", 403, "AccessDenied"},
		{http.MethodGet, "/" + formBucket + "/pub/a.png?X-Presign-Once=n", 400, "InvalidRequest"},
		{http.MethodPut, "/" + formBucket + "/pub/new", 403, "AccessDenied"},
		{http.MethodDelete, "/" + formBucket + "/pub/a.png", 403, "AccessDenied"},
		{http.MethodGet, "/" + formBucket + "?policy", 403, "AccessDenied"},
	} {
		st, body := anon(tc.method, tc.path)
		if st != tc.status || !bytes.Contains(body, []byte(tc.body)) {
			t.Errorf("anonymous %s %s: %d %s", tc.method, tc.path, st, body)
		}
	}
	for name, doc := range map[string]string{
		"mc anonymous set public": strings.ReplaceAll(`{"Version":"2012-10-17","Statement":[{"Action":["s3:GetObject","s3:PutObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::BKT/*"]}]}`, "BKT", formBucket),
		"a deny":                  strings.ReplaceAll(`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BKT/*"}]}`, "BKT", formBucket),
	} {
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)}); sdkCode(err) != "MalformedPolicy" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, _ := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b}); got == nil || *got.Policy != policy {
		t.Fatal("a refused policy replaced the one in force")
	}
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if st, _ := anon(http.MethodGet, "/"+formBucket+"/pub/a.png"); st != 403 {
		t.Fatalf("anonymous GET after DeleteBucketPolicy: %d", st)
	}
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("control")})
	open := strings.ReplaceAll(policy, formBucket, "control")
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("control"), Policy: aws.String(open)}); sdkCode(err) != "AccessDenied" {
		t.Fatalf("a policy on a private bucket: %v", err)
	}
}

// TestACLOfBucketWritesAndForms: the other ways an ACL is set follow the same rule. PutBucketAcl
// and CreateBucket with "private" are accepted; CreateBucket with "public-read" is refused and
// makes no bucket; a POST form's acl field is accepted when private and refused, storing
// nothing, when public.
func TestACLOfBucketWritesAndForms(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	c, ctx := n.awsClient(), context.Background()
	if _, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String(formBucket), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Errorf("PutBucketAcl private: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("private-acl"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Errorf("CreateBucket with ACL private: %v", err)
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("public-acl"), ACL: types.BucketCannedACLPublicRead})
	if sdkCode(err) != "AccessControlListNotSupported" {
		t.Errorf("CreateBucket with ACL public-read: %v", err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("public-acl")}); err == nil {
		t.Error("a refused CreateBucket made the bucket")
	}
	for acl, want := range map[string]int{"private": http.StatusNoContent, "public-read": http.StatusBadRequest} {
		key := "form-" + acl
		resp, body := postForm(t, n.URL+"/"+formBucket, sortedFields(n.signForm(t, key, 0, 100, map[string]string{"acl": acl})), "f.txt", []byte("x"), nil)
		if resp.StatusCode != want || (want != http.StatusNoContent && xmlCode(body) != "AccessControlListNotSupported") {
			t.Errorf("a form with acl %s: %d %s", acl, resp.StatusCode, body)
		}
		_, _, err := n.stored(t, key)
		if stored := err == nil; stored != (want == http.StatusNoContent) {
			t.Errorf("a form with acl %s stored its file: %v", acl, stored)
		}
	}
}
