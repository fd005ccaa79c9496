package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"presign/internal/testenv/s3tools"
)

// TestS3cmdWorksUnmodified drives Debian's s3cmd through the ordinary operations, with its
// default signature (version 4) for requests; its signurl command makes Signature Version 2 URLs.
func TestS3cmdWorksUnmodified(t *testing.T) {
	bin := s3tools.Debian(t, "s3cmd")
	g := newToolRig(t)
	host := strings.TrimPrefix(g.endpoint, "http://")
	cfg := g.file(t, "s3cfg", []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\n",
		testAccessKey, testSecretKey, host, host)))
	const b = "s3cmd-bucket"
	// Multipart in 5 MiB parts, so that the big upload takes three parts.
	s3 := func(t *testing.T, args ...string) string {
		t.Helper()
		return g.run(t, bin, append([]string{"-c", cfg, "--no-progress", "--multipart-chunk-size-mb=5"}, args...)...)
	}
	hello := []byte("hello from s3cmd\n")
	big := randomBytes(bigSize)

	t.Run("make bucket", func(t *testing.T) {
		s3(t, "mb", "s3://"+b)
		if !g.bucketExists(b) {
			t.Fatal("no bucket")
		}
	})
	t.Run("small upload with metadata", func(t *testing.T) {
		s3(t, "put", "--add-header=x-amz-meta-color:blue", "--mime-type=text/plain", g.file(t, "hello.txt", hello), "s3://"+b+"/hello.txt")
		h := g.head(t, b, "hello.txt")
		if h == nil || h.Metadata["color"] != "blue" || *h.ContentType != "text/plain" || !bytes.Equal(g.object(t, b, "hello.txt"), hello) {
			t.Fatalf("stored %+v", h)
		}
	})
	t.Run("big upload in parts", func(t *testing.T) {
		s3(t, "put", g.file(t, "big.bin", big), "s3://"+b+"/big.bin")
		if !isMultipart(g.head(t, b, "big.bin")) || !bytes.Equal(g.object(t, b, "big.bin"), big) {
			t.Fatal("big upload not stored in parts, or differs")
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		data := randomBytes(7 << 20)
		g.pipe(t, data, bin, "-c", cfg, "--no-progress", "--multipart-chunk-size-mb=5", "put", "-", "s3://"+b+"/streamed.bin")
		if !bytes.Equal(g.object(t, b, "streamed.bin"), data) {
			t.Fatal("streamed upload differs")
		}
	})
	t.Run("stat and ACL read", func(t *testing.T) {
		out := s3(t, "info", "s3://"+b+"/hello.txt")
		if !strings.Contains(out, fmt.Sprintf("File size: %d", len(hello))) || !strings.Contains(out, "x-amz-meta-color: blue") {
			t.Fatalf("info: %s", out)
		}
		if !strings.Contains(out, "FULL_CONTROL") {
			t.Fatalf("info shows no owner's FULL_CONTROL: %s", out)
		}
	})
	t.Run("ranged read", func(t *testing.T) {
		// get --continue asks for the rest of a partly downloaded file with a Range.
		out := g.file(t, "big.part", big[:100])
		s3(t, "get", "--continue", "s3://"+b+"/big.bin", out)
		if got, _ := os.ReadFile(out); !bytes.Equal(got, big) {
			t.Fatalf("get --continue: %d bytes", len(got))
		}
	})
	t.Run("copy", func(t *testing.T) {
		s3(t, "cp", "s3://"+b+"/hello.txt", "s3://"+b+"/copy.txt")
		if !bytes.Equal(g.object(t, b, "copy.txt"), hello) {
			t.Fatal("copy differs")
		}
	})
	t.Run("move", func(t *testing.T) {
		s3(t, "mv", "s3://"+b+"/copy.txt", "s3://"+b+"/moved.txt")
		if g.head(t, b, "copy.txt") != nil || !bytes.Equal(g.object(t, b, "moved.txt"), hello) {
			t.Fatal("move did not move")
		}
	})
	t.Run("sync up and down", func(t *testing.T) {
		s3(t, "sync", g.syncSource(t)+"/", "s3://"+b+"/sync/")
		g.checkSynced(t, b, "sync/")
		down := filepath.Join(g.dir, "down")
		s3(t, "sync", "s3://"+b+"/sync/", down+"/")
		sameTree(t, filepath.Join(g.dir, "up"), down)
	})
	t.Run("list past 1000 keys", func(t *testing.T) {
		g.populate(t, b, "many/", manyKeys)
		if n := strings.Count(s3(t, "ls", "s3://"+b+"/many/"), "\n"); n != manyKeys {
			t.Fatalf("s3cmd ls listed %d keys", n)
		}
	})
	t.Run("presign then curl", func(t *testing.T) {
		presignedFetch(t, s3(t, "signurl", "s3://"+b+"/hello.txt", "+600"), hello)
	})
	t.Run("bucket info", func(t *testing.T) {
		if out := s3(t, "info", "s3://"+b); !strings.Contains(out, "FULL_CONTROL") || !strings.Contains(out, "Policy:    none") {
			t.Fatalf("bucket info: %s", out)
		}
	})
	t.Run("deletes", func(t *testing.T) {
		s3(t, "del", "s3://"+b+"/moved.txt")
		s3(t, "del", "--recursive", "--force", "s3://"+b+"/many/")
		if g.head(t, b, "moved.txt") != nil || len(g.keys(t, b, "many/")) != 0 {
			t.Fatal("objects left after del")
		}
	})
	t.Run("forced bucket removal", func(t *testing.T) {
		s3(t, "rb", "--recursive", "--force", "s3://"+b)
		if g.bucketExists(b) {
			t.Fatal("bucket left")
		}
	})
}
