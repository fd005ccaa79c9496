package storage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"presign/internal/testenv/testclock"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// countingCORS is a disk backend that counts the reads of CORS configurations.
type countingCORS struct {
	*disk.Backend
	reads atomic.Int32
}

func (b *countingCORS) GetBucketCORS(ctx context.Context, bucket string) ([]byte, error) {
	b.reads.Add(1)
	return b.Backend.GetBucketCORS(ctx, bucket)
}

// TestCORSRulesAreReadOncePerFewSeconds: browser requests in a burst read the bucket's CORS
// rules once; a change made through the same node applies to the next request; one made
// through another node on the same store applies once the node's few seconds have passed.
func TestCORSRulesAreReadOncePerFewSeconds(t *testing.T) {
	d, err := disk.Open(t.Context(), disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.CreateBucket(t.Context(), formBucket); err != nil {
		t.Fatal(err)
	}
	store := &countingCORS{Backend: d}
	clock := testclock.New(time.Now())
	node := func() (string, *s3.Client) {
		srv, err := storage.New(storage.Config{Backend: store, Nonces: d, Now: clock.Now, Region: formRegion,
			Credentials: sigv4.StaticCredentials{formAccessKey: formSecretKey}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close) // after the HTTP server, which stops first
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return ts.URL, s3.New(s3.Options{Region: formRegion, BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(formAccessKey, formSecretKey, "")})
	}
	url1, c1 := node()
	_, c2 := node()
	allow := func(c *s3.Client, origin string) {
		t.Helper()
		if _, err := c.PutBucketCors(t.Context(), &s3.PutBucketCorsInput{Bucket: aws.String(formBucket), CORSConfiguration: &types.CORSConfiguration{
			CORSRules: []types.CORSRule{{AllowedOrigins: []string{origin}, AllowedMethods: []string{"PUT"}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	allowed := func(origin string) bool {
		t.Helper()
		resp, _ := preflight(t, url1+"/"+formBucket+"/k", origin, "PUT", "")
		return resp.StatusCode == http.StatusOK && resp.Header.Get("Access-Control-Allow-Origin") == origin
	}

	allow(c1, "https://a.example")
	before := store.reads.Load()
	for i := range 10 {
		if !allowed("https://a.example") {
			t.Fatalf("preflight %d refused", i)
		}
	}
	if n := store.reads.Load() - before; n != 1 {
		t.Fatalf("10 preflights read the rules %d times, want once", n)
	}

	allow(c1, "https://b.example")
	if !allowed("https://b.example") || allowed("https://a.example") {
		t.Fatal("a change made through the node did not apply to its next request")
	}

	allow(c2, "https://c.example")
	if allowed("https://c.example") {
		t.Fatal("a change made through another node applied at once: the rules were not remembered")
	}
	clock.Advance(6 * time.Second)
	if !allowed("https://c.example") {
		t.Fatal("a change made through another node did not apply after the cache's few seconds")
	}
}
