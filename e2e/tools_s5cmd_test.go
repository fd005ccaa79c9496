package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"presign/internal/testenv/s3tools"
)

// TestS5cmdWorksUnmodified drives s5cmd (built from the Go module proxy) through the ordinary
// operations.
func TestS5cmdWorksUnmodified(t *testing.T) {
	bin := s3tools.Built(t, "s5cmd")
	g := newToolRig(t)
	const b = "s5cmd-bucket"
	s5 := func(t *testing.T, args ...string) string {
		t.Helper()
		return g.run(t, bin, append([]string{"--endpoint-url", g.endpoint}, args...)...)
	}
	hello := []byte("hello from s5cmd\n")
	big := randomBytes(bigSize)

	t.Run("make bucket", func(t *testing.T) {
		s5(t, "mb", "s3://"+b)
		if !g.bucketExists(b) {
			t.Fatal("no bucket")
		}
	})
	t.Run("small upload with metadata", func(t *testing.T) {
		s5(t, "cp", "--metadata", "color=blue", "--content-type", "text/plain", g.file(t, "hello.txt", hello), "s3://"+b+"/hello.txt")
		h := g.head(t, b, "hello.txt")
		if h == nil || h.Metadata["color"] != "blue" || *h.ContentType != "text/plain" || !bytes.Equal(g.object(t, b, "hello.txt"), hello) {
			t.Fatalf("stored %+v", h)
		}
	})
	t.Run("big upload in parts", func(t *testing.T) {
		s5(t, "cp", "--part-size", "5", g.file(t, "big.bin", big), "s3://"+b+"/big.bin")
		if !isMultipart(g.head(t, b, "big.bin")) || !bytes.Equal(g.object(t, b, "big.bin"), big) {
			t.Fatal("big upload not stored in parts, or differs")
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		data := randomBytes(7 << 20)
		g.pipe(t, data, bin, "--endpoint-url", g.endpoint, "pipe", "s3://"+b+"/streamed.bin")
		if !bytes.Equal(g.object(t, b, "streamed.bin"), data) {
			t.Fatal("streamed upload differs")
		}
	})
	t.Run("stat", func(t *testing.T) {
		var h struct {
			Size     int
			Metadata map[string]string
		}
		if err := json.Unmarshal([]byte(s5(t, "--json", "head", "s3://"+b+"/hello.txt")), &h); err != nil {
			t.Fatal(err)
		}
		if h.Size != len(hello) || h.Metadata["color"] != "blue" {
			t.Fatalf("head: %+v", h)
		}
	})
	t.Run("ranged read", func(t *testing.T) {
		// s5cmd downloads a large object in ranged parts, in parallel.
		out := filepath.Join(g.dir, "big.out")
		s5(t, "cp", "--part-size", "5", "s3://"+b+"/big.bin", out)
		if got, _ := os.ReadFile(out); !bytes.Equal(got, big) {
			t.Fatalf("download in ranges: %d bytes", len(got))
		}
	})
	t.Run("copy", func(t *testing.T) {
		s5(t, "cp", "s3://"+b+"/hello.txt", "s3://"+b+"/copy.txt")
		if !bytes.Equal(g.object(t, b, "copy.txt"), hello) {
			t.Fatal("copy differs")
		}
	})
	t.Run("move", func(t *testing.T) {
		s5(t, "mv", "s3://"+b+"/copy.txt", "s3://"+b+"/moved.txt")
		if g.head(t, b, "copy.txt") != nil || !bytes.Equal(g.object(t, b, "moved.txt"), hello) {
			t.Fatal("move did not move")
		}
	})
	t.Run("sync up and down", func(t *testing.T) {
		s5(t, "sync", g.syncSource(t)+"/", "s3://"+b+"/sync/")
		g.checkSynced(t, b, "sync/")
		down := filepath.Join(g.dir, "down")
		s5(t, "sync", "s3://"+b+"/sync/*", down+"/")
		sameTree(t, filepath.Join(g.dir, "up"), down)
	})
	t.Run("list past 1000 keys", func(t *testing.T) {
		g.populate(t, b, "many/", manyKeys)
		if n := strings.Count(s5(t, "ls", "s3://"+b+"/many/*"), "\n"); n != manyKeys {
			t.Fatalf("s5cmd ls listed %d keys", n)
		}
	})
	t.Run("presign then curl", func(t *testing.T) {
		presignedFetch(t, s5(t, "presign", "s3://"+b+"/hello.txt"), hello)
	})
	t.Run("versioning read", func(t *testing.T) {
		if out := s5(t, "bucket-version", "s3://"+b); strings.Contains(out, "Enabled") {
			t.Fatalf("bucket-version: %s", out)
		}
	})
	t.Run("deletes", func(t *testing.T) {
		s5(t, "rm", "s3://"+b+"/moved.txt")
		s5(t, "rm", "s3://"+b+"/many/*")
		if g.head(t, b, "moved.txt") != nil || len(g.keys(t, b, "many/")) != 0 {
			t.Fatal("objects left after rm")
		}
	})
	t.Run("forced bucket removal", func(t *testing.T) {
		// s5cmd removes only empty buckets: everything first, then the bucket.
		s5(t, "rm", "s3://"+b+"/*")
		s5(t, "rb", "s3://"+b)
		if g.bucketExists(b) {
			t.Fatal("bucket left")
		}
	})
}
