package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"presign/internal/testenv/s3tools"
)

// TestMinIOClientWorksUnmodified drives mc, MinIO's client (built from the Go module proxy),
// through the ordinary operations, and gives a prefix anonymous read with
// "mc anonymous set download".
func TestMinIOClientWorksUnmodified(t *testing.T) {
	bin := s3tools.Built(t, "mc")
	g := newToolRig(t)
	g.env = append(g.env, "MC_CONFIG_DIR="+filepath.Join(g.dir, "mc"), "MC_QUIET=1", "MC_NO_COLOR=1", "MC_DISABLE_PAGER=1")
	const b = "mc-bucket"
	mc := func(t *testing.T, args ...string) string {
		t.Helper()
		return g.run(t, bin, args...)
	}
	mc(t, "alias", "set", "ps", g.endpoint, testAccessKey, testSecretKey, "--api", "S3v4", "--path", "on")
	hello := []byte("hello from mc\n")
	big := randomBytes(bigSize)

	t.Run("make bucket", func(t *testing.T) {
		mc(t, "mb", "ps/"+b)
		if !g.bucketExists(b) {
			t.Fatal("no bucket")
		}
	})
	t.Run("small upload with metadata", func(t *testing.T) {
		mc(t, "cp", "--attr", "color=blue;Content-Type=text/plain", g.file(t, "hello.txt", hello), "ps/"+b+"/hello.txt")
		h := g.head(t, b, "hello.txt")
		if h == nil || h.Metadata["color"] != "blue" || *h.ContentType != "text/plain" || !bytes.Equal(g.object(t, b, "hello.txt"), hello) {
			t.Fatalf("stored %+v", h)
		}
	})
	t.Run("big upload in parts", func(t *testing.T) {
		mc(t, "put", "--part-size", "5MiB", g.file(t, "big.bin", big), "ps/"+b+"/big.bin")
		if !isMultipart(g.head(t, b, "big.bin")) || !bytes.Equal(g.object(t, b, "big.bin"), big) {
			t.Fatal("big upload not stored in parts, or differs")
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		data := randomBytes(7 << 20)
		g.pipe(t, data, bin, "pipe", "ps/"+b+"/streamed.bin")
		if !bytes.Equal(g.object(t, b, "streamed.bin"), data) {
			t.Fatal("streamed upload differs")
		}
	})
	t.Run("stat", func(t *testing.T) {
		var st struct {
			Size     int
			Metadata map[string]string
		}
		if err := json.Unmarshal([]byte(mc(t, "stat", "--json", "ps/"+b+"/hello.txt")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != len(hello) || st.Metadata["X-Amz-Meta-Color"] != "blue" {
			t.Fatalf("stat: %+v", st)
		}
	})
	t.Run("ranged read", func(t *testing.T) {
		if got := mc(t, "cat", "--offset", "100", "ps/"+b+"/big.bin"); got != string(big[100:]) {
			t.Fatalf("cat --offset 100: %d bytes", len(got))
		}
	})
	t.Run("copy", func(t *testing.T) {
		mc(t, "cp", "ps/"+b+"/hello.txt", "ps/"+b+"/copy.txt")
		if !bytes.Equal(g.object(t, b, "copy.txt"), hello) {
			t.Fatal("copy differs")
		}
	})
	t.Run("move", func(t *testing.T) {
		mc(t, "mv", "ps/"+b+"/copy.txt", "ps/"+b+"/moved.txt")
		if g.head(t, b, "copy.txt") != nil || !bytes.Equal(g.object(t, b, "moved.txt"), hello) {
			t.Fatal("move did not move")
		}
	})
	t.Run("sync up and down", func(t *testing.T) {
		mc(t, "mirror", g.syncSource(t), "ps/"+b+"/sync/")
		g.checkSynced(t, b, "sync/")
		down := filepath.Join(g.dir, "down")
		mc(t, "mirror", "ps/"+b+"/sync/", down)
		sameTree(t, filepath.Join(g.dir, "up"), down)
	})
	t.Run("list past 1000 keys", func(t *testing.T) {
		g.populate(t, b, "many/", manyKeys)
		if n := strings.Count(mc(t, "ls", "--recursive", "ps/"+b+"/many/"), "\n"); n != manyKeys {
			t.Fatalf("mc ls listed %d keys", n)
		}
	})
	t.Run("presign then curl", func(t *testing.T) {
		out := mc(t, "share", "download", "ps/"+b+"/hello.txt")
		_, u, ok := strings.Cut(out, "Share: ")
		if !ok {
			t.Fatalf("mc share download: %s", out)
		}
		presignedFetch(t, u, hello)
	})
	t.Run("versioning read", func(t *testing.T) {
		if out := mc(t, "version", "info", "ps/"+b); !strings.Contains(out, "un-versioned") && !strings.Contains(out, "unversioned") {
			t.Fatalf("mc version info: %s", out)
		}
	})
	t.Run("policy reads", func(t *testing.T) {
		if out := mc(t, "anonymous", "get", "ps/"+b); !strings.Contains(out, "private") {
			t.Fatalf("mc anonymous get: %s", out)
		}
		if out := mc(t, "stat", "ps/"+b); !strings.Contains(out, "Anonymous: Disabled") {
			t.Fatalf("mc stat of the bucket: %s", out)
		}
	})
	t.Run("anonymous download of a prefix", func(t *testing.T) {
		mc(t, "cp", g.file(t, "pub.txt", []byte("public\n")), "ps/"+b+"/pub/thumb.txt")
		mc(t, "anonymous", "set", "download", "ps/"+b+"/pub/")
		if status, body := curl(t, http.MethodGet, g.endpoint+"/"+b+"/pub/thumb.txt"); status != 200 || string(body) != "public\n" {
			t.Fatalf("anonymous GET under the public prefix: %d %s", status, body)
		}
		if status, _ := curl(t, http.MethodGet, g.endpoint+"/"+b+"/hello.txt"); status != http.StatusForbidden {
			t.Fatalf("anonymous GET outside the public prefix: %d", status)
		}
		mc(t, "anonymous", "set", "none", "ps/"+b+"/pub/")
		if status, _ := curl(t, http.MethodGet, g.endpoint+"/"+b+"/pub/thumb.txt"); status != http.StatusForbidden {
			t.Fatalf("anonymous GET after the policy was removed: %d", status)
		}
	})
	t.Run("deletes", func(t *testing.T) {
		mc(t, "rm", "ps/"+b+"/moved.txt")
		mc(t, "rm", "--recursive", "--force", "ps/"+b+"/many/")
		if g.head(t, b, "moved.txt") != nil || len(g.keys(t, b, "many/")) != 0 {
			t.Fatal("objects left after rm")
		}
	})
	t.Run("forced bucket removal", func(t *testing.T) {
		mc(t, "rb", "--force", "ps/"+b)
		if g.bucketExists(b) {
			t.Fatal("bucket left")
		}
	})
}
