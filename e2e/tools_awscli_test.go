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

// TestAWSCLIWorksUnmodified drives Debian's aws CLI (version 2) through the ordinary
// operations.
func TestAWSCLIWorksUnmodified(t *testing.T) {
	bin := s3tools.Debian(t, "aws")
	g := newToolRig(t)
	// Multipart from 5 MiB, in 5 MiB parts, so that the big upload takes three parts.
	g.file(t, "aws-config", []byte("[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n  addressing_style = path\n"))
	const b = "awscli-bucket"
	aws := func(t *testing.T, args ...string) string {
		t.Helper()
		return g.run(t, bin, append([]string{"--endpoint-url", g.endpoint}, args...)...)
	}
	awsFails := func(t *testing.T, code string, args ...string) {
		t.Helper()
		g.fails(t, code, bin, append([]string{"--endpoint-url", g.endpoint}, args...)...)
	}
	hello := []byte("hello from the aws CLI\n")
	big := randomBytes(bigSize)

	t.Run("make bucket", func(t *testing.T) {
		aws(t, "s3", "mb", "s3://"+b)
		if !g.bucketExists(b) {
			t.Fatal("no bucket")
		}
	})
	t.Run("small upload with metadata", func(t *testing.T) {
		aws(t, "s3", "cp", g.file(t, "hello.txt", hello), "s3://"+b+"/hello.txt", "--metadata", "color=blue", "--content-type", "text/plain")
		h := g.head(t, b, "hello.txt")
		if h == nil || h.Metadata["color"] != "blue" || *h.ContentType != "text/plain" || !bytes.Equal(g.object(t, b, "hello.txt"), hello) {
			t.Fatalf("stored %+v", h)
		}
	})
	t.Run("big upload in parts", func(t *testing.T) {
		aws(t, "s3", "cp", g.file(t, "big.bin", big), "s3://"+b+"/big.bin")
		if !isMultipart(g.head(t, b, "big.bin")) || !bytes.Equal(g.object(t, b, "big.bin"), big) {
			t.Fatal("big upload not stored in parts, or differs")
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		data := randomBytes(7 << 20)
		g.pipe(t, data, bin, "--endpoint-url", g.endpoint, "s3", "cp", "-", "s3://"+b+"/streamed.bin")
		if !bytes.Equal(g.object(t, b, "streamed.bin"), data) {
			t.Fatal("streamed upload differs")
		}
	})
	t.Run("stat", func(t *testing.T) {
		var h struct {
			ContentLength int
			Metadata      map[string]string
		}
		if err := json.Unmarshal([]byte(aws(t, "s3api", "head-object", "--bucket", b, "--key", "hello.txt")), &h); err != nil {
			t.Fatal(err)
		}
		if h.ContentLength != len(hello) || h.Metadata["color"] != "blue" {
			t.Fatalf("head-object: %+v", h)
		}
	})
	t.Run("ranged read", func(t *testing.T) {
		out := filepath.Join(g.dir, "range.out")
		aws(t, "s3api", "get-object", "--bucket", b, "--key", "big.bin", "--range", "bytes=100-199", out)
		if got, _ := os.ReadFile(out); !bytes.Equal(got, big[100:200]) {
			t.Fatalf("range: %d bytes", len(got))
		}
	})
	t.Run("copy", func(t *testing.T) {
		aws(t, "s3", "cp", "s3://"+b+"/hello.txt", "s3://"+b+"/copy.txt")
		if !bytes.Equal(g.object(t, b, "copy.txt"), hello) {
			t.Fatal("copy differs")
		}
	})
	t.Run("move", func(t *testing.T) {
		aws(t, "s3", "mv", "s3://"+b+"/copy.txt", "s3://"+b+"/moved.txt")
		if g.head(t, b, "copy.txt") != nil || !bytes.Equal(g.object(t, b, "moved.txt"), hello) {
			t.Fatal("move did not move")
		}
	})
	t.Run("sync up and down", func(t *testing.T) {
		aws(t, "s3", "sync", g.syncSource(t), "s3://"+b+"/sync/")
		g.checkSynced(t, b, "sync/")
		down := filepath.Join(g.dir, "down")
		aws(t, "s3", "sync", "s3://"+b+"/sync/", down)
		sameTree(t, filepath.Join(g.dir, "up"), down)
	})
	t.Run("list past 1000 keys", func(t *testing.T) {
		g.populate(t, b, "many/", manyKeys)
		if n := strings.Count(aws(t, "s3", "ls", "--recursive", "s3://"+b+"/many/"), "\n"); n != manyKeys {
			t.Fatalf("aws s3 ls listed %d keys", n)
		}
		for _, op := range []string{"list-objects", "list-objects-v2"} {
			if n := strings.TrimSpace(aws(t, "s3api", op, "--bucket", b, "--prefix", "many/", "--query", "length(Contents)")); n != "1001" {
				t.Fatalf("%s listed %s keys", op, n)
			}
		}
	})
	t.Run("presign then curl", func(t *testing.T) {
		presignedFetch(t, aws(t, "s3", "presign", "s3://"+b+"/hello.txt"), hello)
	})
	t.Run("versioning reads", func(t *testing.T) {
		if out := strings.TrimSpace(aws(t, "s3api", "get-bucket-versioning", "--bucket", b)); out != "" && out != "{}" {
			t.Fatalf("get-bucket-versioning of an unversioned bucket: %s", out)
		}
		if n := strings.TrimSpace(aws(t, "s3api", "list-object-versions", "--bucket", b, "--prefix", "many/", "--query", "length(Versions[?VersionId=='null'])")); n != "1001" {
			t.Fatalf("list-object-versions listed %s null versions", n)
		}
	})
	t.Run("policy read", func(t *testing.T) {
		awsFails(t, "NoSuchBucketPolicy", "s3api", "get-bucket-policy", "--bucket", b)
	})
	t.Run("ACL reads and private ACL", func(t *testing.T) {
		for _, args := range [][]string{{"get-bucket-acl", "--bucket", b}, {"get-object-acl", "--bucket", b, "--key", "hello.txt"}} {
			if out := aws(t, append([]string{"s3api"}, args...)...); !strings.Contains(out, "FULL_CONTROL") {
				t.Fatalf("%s: %s", args[0], out)
			}
		}
		aws(t, "s3api", "put-object-acl", "--bucket", b, "--key", "hello.txt", "--acl", "private")
		awsFails(t, "AccessControlListNotSupported", "s3api", "put-object-acl", "--bucket", b, "--key", "hello.txt", "--acl", "public-read")
	})
	t.Run("deletes", func(t *testing.T) {
		aws(t, "s3", "rm", "s3://"+b+"/moved.txt")
		aws(t, "s3", "rm", "--recursive", "s3://"+b+"/many/")
		if g.head(t, b, "moved.txt") != nil || len(g.keys(t, b, "many/")) != 0 {
			t.Fatal("objects left after rm")
		}
	})
	t.Run("forced bucket removal", func(t *testing.T) {
		aws(t, "s3", "rb", "--force", "s3://"+b)
		if g.bucketExists(b) {
			t.Fatal("bucket left")
		}
	})
}
