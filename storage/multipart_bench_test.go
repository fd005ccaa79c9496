package storage_test

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// BenchmarkPresignedMultipartUpload uploads one object as the pattern's clients do: the
// control plane's SDK starts the upload and presigns every part URL, workers PUT the parts
// with plain net/http in parallel, and the SDK completes. It reports the upload's MB/s (from
// SetBytes) and the completion's own time.
//
// By default it runs against an in-process node. To measure the real binary, start
// `presign storage --data DIR --addr HOST:PORT` and set PRESIGN_BENCH_ENDPOINT (http://HOST:PORT),
// PRESIGN_ACCESS_KEY and PRESIGN_SECRET_KEY. PRESIGN_BENCH_SIZE_MIB (default 1024),
// PRESIGN_BENCH_PART_MIB (16) and PRESIGN_BENCH_WORKERS (8) shape the upload.
func BenchmarkPresignedMultipartUpload(b *testing.B) {
	size := benchEnvInt(b, "PRESIGN_BENCH_SIZE_MIB", 1024) * mib
	partSize := benchEnvInt(b, "PRESIGN_BENCH_PART_MIB", 16) * mib
	workers := benchEnvInt(b, "PRESIGN_BENCH_WORKERS", 8)
	client := benchClient(b)
	bucket := "bench-multipart"
	if _, err := client.CreateBucket(b.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil && s3Code(err) != "BucketAlreadyOwnedByYou" {
		b.Fatalf("CreateBucket: %v", err)
	}
	presigner := s3.NewPresignClient(client)
	parts := (size + partSize - 1) / partSize
	// Each part is one random block rotated by its number, so parts differ without a
	// generator on the client's CPU; their ETags are known before the clock starts.
	block := mpData("bench", partSize)
	partBody := func(i, n int) io.Reader {
		k := (i * 4099) % n
		return io.MultiReader(bytes.NewReader(block[k:n]), bytes.NewReader(block[:k]))
	}
	partLen := func(i int) int { return min(partSize, size-i*partSize) }
	want := make([]string, parts)
	for i := range parts {
		h := md5.New()
		io.Copy(h, partBody(i, partLen(i)))
		want[i] = fmt.Sprintf(`"%x"`, h.Sum(nil))
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	b.SetBytes(int64(size))
	var completeTime time.Duration
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("bench/%d-%d", time.Now().UnixNano(), i)
		created, err := client.CreateMultipartUpload(b.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			b.Fatalf("CreateMultipartUpload: %v", err)
		}
		done := make([]types.CompletedPart, parts)
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for p := range next {
					req, err := presigner.PresignUploadPart(b.Context(), &s3.UploadPartInput{
						Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId, PartNumber: aws.Int32(int32(p + 1)),
					})
					if err != nil {
						b.Error(err)
						continue
					}
					put, err := http.NewRequestWithContext(b.Context(), http.MethodPut, req.URL, partBody(p, partLen(p)))
					if err != nil {
						b.Error(err)
						continue
					}
					put.ContentLength = int64(partLen(p))
					resp, err := httpClient.Do(put)
					if err != nil {
						b.Error(err)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if etag := resp.Header.Get("ETag"); resp.StatusCode != http.StatusOK || etag != want[p] {
						b.Errorf("part %d: %s, ETag %s, want %s", p+1, resp.Status, etag, want[p])
					}
					done[p] = types.CompletedPart{ETag: aws.String(want[p]), PartNumber: aws.Int32(int32(p + 1))}
				}
			})
		}
		for p := range parts {
			next <- p
		}
		close(next)
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		start := time.Now()
		_, err = client.CompleteMultipartUpload(b.Context(), &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		})
		completeTime += time.Since(start)
		if err != nil {
			b.Fatalf("CompleteMultipartUpload: %v", err)
		}
		b.StopTimer()
		if _, err := client.DeleteObject(b.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			b.Fatalf("DeleteObject: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(completeTime.Microseconds())/1000/float64(b.N), "complete-ms/op")
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// benchClient is an SDK client for the node under test: PRESIGN_BENCH_ENDPOINT, or a node
// started in this process.
func benchClient(b *testing.B) *s3.Client {
	endpoint := os.Getenv("PRESIGN_BENCH_ENDPOINT")
	access, secret := os.Getenv("PRESIGN_ACCESS_KEY"), os.Getenv("PRESIGN_SECRET_KEY")
	if endpoint == "" {
		endpoint, access, secret = startMultipartNode(b, nil).URL, mpAccessKey, mpSecretKey
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	return s3.New(s3.Options{
		Region: mpRegion, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
}
