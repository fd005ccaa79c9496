package e2e

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"presign/internal/testenv/s3tools"
)

// TestRcloneWorksUnmodified drives Debian's rclone through the ordinary operations.
func TestRcloneWorksUnmodified(t *testing.T) {
	bin := s3tools.Debian(t, "rclone")
	g := newToolRig(t)
	g.env = append(g.env, "RCLONE_CONFIG_PS_TYPE=s3", "RCLONE_CONFIG_PS_PROVIDER=Other", "RCLONE_CONFIG_PS_ENDPOINT="+g.endpoint,
		"RCLONE_CONFIG_PS_ACCESS_KEY_ID="+testAccessKey, "RCLONE_CONFIG_PS_SECRET_ACCESS_KEY="+testSecretKey, "RCLONE_CONFIG_PS_REGION="+testRegion)
	conf := g.file(t, "rclone.conf", nil)
	const b = "rclone-bucket"
	// Multipart from 5 MiB, in 5 MiB parts, so that the big upload takes three parts.
	rc := func(t *testing.T, args ...string) string {
		t.Helper()
		return g.run(t, bin, append([]string{"--config", conf, "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"}, args...)...)
	}
	hello := []byte("hello from rclone\n")
	big := randomBytes(bigSize)

	t.Run("make bucket", func(t *testing.T) {
		rc(t, "mkdir", "ps:"+b)
		if !g.bucketExists(b) {
			t.Fatal("no bucket")
		}
	})
	t.Run("small upload with metadata", func(t *testing.T) {
		rc(t, "copyto", "-M", "--metadata-set", "color=blue", g.file(t, "hello.txt", hello), "ps:"+b+"/hello.txt")
		h := g.head(t, b, "hello.txt")
		if h == nil || h.Metadata["color"] != "blue" || !strings.HasPrefix(*h.ContentType, "text/plain") || !bytes.Equal(g.object(t, b, "hello.txt"), hello) {
			t.Fatalf("stored %+v", h)
		}
	})
	t.Run("big upload in parts", func(t *testing.T) {
		rc(t, "copyto", g.file(t, "big.bin", big), "ps:"+b+"/big.bin")
		if !isMultipart(g.head(t, b, "big.bin")) || !bytes.Equal(g.object(t, b, "big.bin"), big) {
			t.Fatal("big upload not stored in parts, or differs")
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		data := randomBytes(7 << 20)
		g.pipe(t, data, bin, "--config", conf, "--s3-chunk-size", "5M", "rcat", "ps:"+b+"/streamed.bin")
		if !bytes.Equal(g.object(t, b, "streamed.bin"), data) {
			t.Fatal("streamed upload differs")
		}
	})
	t.Run("stat", func(t *testing.T) {
		var st struct {
			Size     int
			Metadata map[string]string
		}
		if err := json.Unmarshal([]byte(rc(t, "lsjson", "--stat", "-M", "ps:"+b+"/hello.txt")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != len(hello) || st.Metadata["color"] != "blue" {
			t.Fatalf("lsjson --stat: %+v", st)
		}
	})
	t.Run("ranged read", func(t *testing.T) {
		if got := rc(t, "cat", "--offset", "100", "--count", "100", "ps:"+b+"/big.bin"); got != string(big[100:200]) {
			t.Fatalf("cat --offset 100 --count 100: %d bytes", len(got))
		}
	})
	t.Run("copy", func(t *testing.T) {
		rc(t, "copyto", "ps:"+b+"/hello.txt", "ps:"+b+"/copy.txt")
		if !bytes.Equal(g.object(t, b, "copy.txt"), hello) {
			t.Fatal("copy differs")
		}
	})
	t.Run("move", func(t *testing.T) {
		rc(t, "moveto", "ps:"+b+"/copy.txt", "ps:"+b+"/moved.txt")
		if g.head(t, b, "copy.txt") != nil || !bytes.Equal(g.object(t, b, "moved.txt"), hello) {
			t.Fatal("move did not move")
		}
	})
	t.Run("sync up and down", func(t *testing.T) {
		rc(t, "sync", g.syncSource(t), "ps:"+b+"/sync")
		g.checkSynced(t, b, "sync/")
		down := filepath.Join(g.dir, "down")
		rc(t, "sync", "ps:"+b+"/sync", down)
		sameTree(t, filepath.Join(g.dir, "up"), down)
	})
	t.Run("list past 1000 keys", func(t *testing.T) {
		g.populate(t, b, "many/", manyKeys)
		for _, v := range []string{"1", "2"} {
			if n := strings.Count(rc(t, "lsf", "--s3-list-version", v, "ps:"+b+"/many"), "\n"); n != manyKeys {
				t.Fatalf("rclone lsf with ListObjects v%s listed %d keys", v, n)
			}
		}
	})
	t.Run("presign then curl", func(t *testing.T) {
		presignedFetch(t, rc(t, "link", "ps:"+b+"/hello.txt"), hello)
	})
	t.Run("versioning read", func(t *testing.T) {
		if out := rc(t, "backend", "versioning", "ps:"+b); !strings.Contains(out, "Unversioned") {
			t.Fatalf("backend versioning: %q", out)
		}
	})
	t.Run("deletes", func(t *testing.T) {
		rc(t, "deletefile", "ps:"+b+"/moved.txt")
		rc(t, "delete", "ps:"+b+"/many")
		if g.head(t, b, "moved.txt") != nil || len(g.keys(t, b, "many/")) != 0 {
			t.Fatal("objects left after delete")
		}
	})
	t.Run("forced bucket removal", func(t *testing.T) {
		rc(t, "purge", "ps:"+b)
		if g.bucketExists(b) {
			t.Fatal("bucket left")
		}
	})
}
