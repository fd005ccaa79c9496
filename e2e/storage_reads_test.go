package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPublicPrefixOnEachBackend: the policy "mc anonymous set download" writes opens anonymous
// reads of its prefix on both backends (the gateway keeps it in its cluster), survives a
// restart of the node, and closes again when removed.
func TestPublicPrefixOnEachBackend(t *testing.T) { forEachBackend(t, testPublicPrefix) }

func testPublicPrefix(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	ep := node.url("storage node")
	c, ctx := awsClient(ep), context.Background()
	mustCreateBucket(t, ep, "public")
	for _, k := range []string{"thumbs/1.jpg", "secret.txt"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("public"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("public")}); apiCode(err) != "NoSuchBucketPolicy" {
		t.Fatalf("GetBucketPolicy without one: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Action":["s3:GetObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::public/thumbs/*"],"Sid":""}]}`
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("public"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	check := func(ep string, thumb int) {
		t.Helper()
		if status, body := curl(t, http.MethodGet, ep+"/public/thumbs/1.jpg"); status != thumb {
			t.Fatalf("anonymous GET of thumbs/1.jpg: %d %s", status, body)
		}
		if status, _ := curl(t, http.MethodGet, ep+"/public/secret.txt"); status != http.StatusForbidden {
			t.Fatalf("anonymous GET of secret.txt: %d", status)
		}
	}
	check(ep, http.StatusOK)
	if err := node.stop(); err != nil {
		t.Fatal(err)
	}
	node.restart("storage node")
	ep = node.url("storage node")
	c = awsClient(ep)
	check(ep, http.StatusOK)
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("public")}); err != nil {
		t.Fatal(err)
	}
	check(ep, http.StatusForbidden)
}

// TestVersioningReadsOnEachBackend: the reads cleanup tools make of an unversioned bucket
// answer the same on both backends.
func TestVersioningReadsOnEachBackend(t *testing.T) { forEachBackend(t, testVersioningReads) }

func testVersioningReads(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	ep := node.url("storage node")
	c, ctx := awsClient(ep), context.Background()
	mustCreateBucket(t, ep, "versions")
	for _, k := range []string{"a", "b", "c"} {
		c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("versions"), Key: aws.String(k), Body: strings.NewReader(k)})
	}
	if v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("versions")}); err != nil || v.Status != "" {
		t.Fatalf("GetBucketVersioning: %+v %v", v, err)
	}
	var keys []string
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String("versions"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			keys = append(keys, *v.Key+"@"+*v.VersionId)
		}
	}
	if strings.Join(keys, " ") != "a@null b@null c@null" {
		t.Fatalf("versions: %v", keys)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("versions"), Key: aws.String("a"), VersionId: aws.String("null")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("versions"), Key: aws.String("a")}); err == nil {
		t.Fatal("version null of a was not deleted")
	}
}
