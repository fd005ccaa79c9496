package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/internal/testenv/s3tools"
)

// botocoreDefaultURL has Debian's boto3 presign a GET with its default settings (Signature
// Version 2 in this botocore) and returns the URL.
func botocoreDefaultURL(t *testing.T, endpoint, bucket, key, extra string) string {
	t.Helper()
	python := s3tools.Boto3(t)
	g := &toolRig{env: []string{"AWS_ACCESS_KEY_ID=" + testAccessKey, "AWS_SECRET_ACCESS_KEY=" + testSecretKey, "HOME=" + t.TempDir()}}
	script := `import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
print(s3.generate_presigned_url("get_object", Params={"Bucket": sys.argv[2], "Key": sys.argv[3]}))`
	out, err := g.exec(nil, python, "-c", script, endpoint, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	u := strings.TrimSpace(out)
	if !strings.Contains(u, "AWSAccessKeyId=") || !strings.Contains(u, "Signature=") {
		t.Fatalf("botocore's default URL is not Signature Version 2: %s", u)
	}
	return u + extra
}

// TestSigV2URLsOnEachBackend: botocore's default presigned URL reads an object on both
// backends; with a presign extension added it is refused; with --sigv2=false every SigV2 URL
// gets S3's answer for regions without it, and SigV4 still works.
func TestSigV2URLsOnEachBackend(t *testing.T) { forEachBackend(t, testSigV2URLs) }

func testSigV2URLs(t *testing.T, storageNode nodeFactory) {
	on := storageNode(t)
	off := storageNode(t, "--sigv2=false")
	ctx := context.Background()
	for _, node := range []*process{on, off} {
		ep := node.url("storage node")
		mustCreateBucket(t, ep, "sigv2")
		if _, err := awsClient(ep).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sigv2"), Key: aws.String("k.txt"), Body: strings.NewReader("v2 ok")}); err != nil {
			t.Fatal(err)
		}
	}
	onURL := on.url("storage node")
	if status, body := curl(t, http.MethodGet, botocoreDefaultURL(t, onURL, "sigv2", "k.txt", "")); status != 200 || string(body) != "v2 ok" {
		t.Fatalf("botocore's default URL: %d %s", status, body)
	}
	if status, body := curl(t, http.MethodGet, botocoreDefaultURL(t, onURL, "sigv2", "k.txt", "&X-Presign-Once=abc")); status != 400 || !strings.Contains(string(body), "X-Presign-Once") {
		t.Fatalf("a SigV2 URL with X-Presign-Once: %d %s", status, body)
	}
	offURL := off.url("storage node")
	status, body := curl(t, http.MethodGet, botocoreDefaultURL(t, offURL, "sigv2", "k.txt", ""))
	const want = "<Code>InvalidRequest</Code><Message>The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.</Message>"
	if status != 400 || !strings.Contains(string(body), want) {
		t.Fatalf("a SigV2 URL with --sigv2=false: %d %s", status, body)
	}
	if _, err := awsClient(offURL).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sigv2"), Key: aws.String("k.txt")}); err != nil {
		t.Fatalf("SigV4 with --sigv2=false: %v", err)
	}
}
