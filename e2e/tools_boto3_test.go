package e2e

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"presign/internal/testenv/s3tools"
)

// boto3Result is one step of testdata/boto3_tool.py.
type boto3Result struct {
	Step  string          `json:"step"`
	OK    bool            `json:"ok"`
	Error string          `json:"error"`
	Value json.RawMessage `json:"value"`
}

// boto3Steps runs steps of testdata/boto3_tool.py in one Python process.
func (g *toolRig) boto3Steps(t *testing.T, python, bucket string, steps ...string) map[string]boto3Result {
	t.Helper()
	script, err := filepath.Abs("testdata/boto3_tool.py")
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.exec(nil, python, append([]string{script, g.endpoint, bucket, g.dir}, steps...)...)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]boto3Result{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r boto3Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("boto3_tool.py printed %q: %v", sc.Text(), err)
		}
		results[r.Step] = r
	}
	return results
}

// step checks one step's result, decoding its value into v (may be nil).
func (r boto3Result) check(t *testing.T, v any) {
	t.Helper()
	if r.Step == "" {
		t.Fatal("step did not run")
	}
	if !r.OK {
		t.Fatalf("%s: %s", r.Step, r.Error)
	}
	if v != nil {
		if err := json.Unmarshal(r.Value, v); err != nil {
			t.Fatalf("%s: value %s: %v", r.Step, r.Value, err)
		}
	}
}

// TestBoto3WorksUnmodified drives Debian's boto3 through the ordinary operations with its
// default settings, including its default presigned GET, PUT and POST (Signature Version 2
// in this botocore).
func TestBoto3WorksUnmodified(t *testing.T) {
	python := s3tools.Boto3(t)
	g := newToolRig(t)
	const b = "boto3-bucket"
	hello := []byte("hello from boto3\n")
	big := randomBytes(bigSize)
	streamed := randomBytes(7 << 20)
	g.file(t, "hello.txt", hello)
	g.file(t, "big.bin", big)
	g.file(t, "streamed.bin", streamed)

	first := g.boto3Steps(t, python, b, "make-bucket", "small-upload-with-metadata", "big-upload-in-parts", "streamed-upload",
		"stat", "ranged-read", "copy", "move")
	t.Run("make bucket", func(t *testing.T) {
		first["make-bucket"].check(t, nil)
		if !g.bucketExists(b) {
			t.Fatal("no bucket")
		}
	})
	t.Run("small upload with metadata", func(t *testing.T) {
		first["small-upload-with-metadata"].check(t, nil)
		h := g.head(t, b, "hello.txt")
		if h == nil || h.Metadata["color"] != "blue" || *h.ContentType != "text/plain" || !bytes.Equal(g.object(t, b, "hello.txt"), hello) {
			t.Fatalf("stored %+v", h)
		}
	})
	t.Run("big upload in parts", func(t *testing.T) {
		first["big-upload-in-parts"].check(t, nil)
		if !isMultipart(g.head(t, b, "big.bin")) || !bytes.Equal(g.object(t, b, "big.bin"), big) {
			t.Fatal("big upload not stored in parts, or differs")
		}
	})
	t.Run("streamed upload", func(t *testing.T) {
		first["streamed-upload"].check(t, nil)
		if !bytes.Equal(g.object(t, b, "streamed.bin"), streamed) {
			t.Fatal("streamed upload differs")
		}
	})
	t.Run("stat", func(t *testing.T) {
		var st struct {
			Size     int
			Metadata map[string]string
			Type     string
		}
		first["stat"].check(t, &st)
		if st.Size != len(hello) || st.Metadata["color"] != "blue" || st.Type != "text/plain" {
			t.Fatalf("head_object: %+v", st)
		}
	})
	t.Run("ranged read", func(t *testing.T) {
		var h string
		first["ranged-read"].check(t, &h)
		if got, _ := hex.DecodeString(h); !bytes.Equal(got, big[100:200]) {
			t.Fatalf("range: %d bytes", len(got))
		}
	})
	t.Run("copy", func(t *testing.T) {
		first["copy"].check(t, nil)
	})
	t.Run("move", func(t *testing.T) {
		first["move"].check(t, nil)
		if g.head(t, b, "copy.txt") != nil || !bytes.Equal(g.object(t, b, "moved.txt"), hello) {
			t.Fatal("move did not move")
		}
	})

	g.populate(t, b, "many/", manyKeys)
	second := g.boto3Steps(t, python, b, "list-past-1000-keys", "presign-get", "presign-put", "presign-post",
		"versioning-reads", "policy-read", "acl-reads")
	t.Run("list past 1000 keys", func(t *testing.T) {
		var counts map[string]int
		second["list-past-1000-keys"].check(t, &counts)
		if counts["list_objects"] != manyKeys || counts["list_objects_v2"] != manyKeys {
			t.Fatalf("listed %v", counts)
		}
	})
	t.Run("presign GET then curl", func(t *testing.T) {
		var u string
		second["presign-get"].check(t, &u)
		presignedFetch(t, u, hello)
	})
	t.Run("presign PUT then curl", func(t *testing.T) {
		var u string
		second["presign-put"].check(t, &u)
		status, body := curlUpload(t, u, "put body\n", "Content-Type: text/plain")
		if status != http.StatusOK || string(g.object(t, b, "presigned-put.txt")) != "put body\n" {
			t.Fatalf("curl PUT of %s: %d %s", u, status, body)
		}
	})
	t.Run("presign POST then curl", func(t *testing.T) {
		var post struct {
			URL    string
			Fields map[string]string
		}
		second["presign-post"].check(t, &post)
		args := []string{"-sS", "-o", "-", "-w", "\n%{http_code}"}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range post.Fields {
				if !yield(k) {
					return
				}
			}
		}) {
			args = append(args, "-F", k+"="+post.Fields[k])
		}
		args = append(args, "-F", "file=@"+g.file(t, "form.txt", []byte("posted\n")), post.URL)
		out, err := exec.Command(s3tools.Debian(t, "curl"), args...).Output()
		if err != nil || !bytes.HasSuffix(out, []byte("\n204")) || string(g.object(t, b, "posted/form.txt")) != "posted\n" {
			t.Fatalf("curl POST of the form: %v %s", err, out)
		}
	})
	t.Run("versioning reads", func(t *testing.T) {
		var v struct {
			Status       *string
			NullVersions int `json:"null_versions"`
		}
		second["versioning-reads"].check(t, &v)
		if v.Status != nil || v.NullVersions != manyKeys {
			t.Fatalf("versioning: %+v", v)
		}
	})
	t.Run("policy read", func(t *testing.T) {
		var code string
		second["policy-read"].check(t, &code)
		if code != "NoSuchBucketPolicy" {
			t.Fatalf("get_bucket_policy: %s", code)
		}
	})
	t.Run("ACL reads and private ACL", func(t *testing.T) {
		var acl struct {
			Grants     []string
			PublicRead string `json:"public-read"`
		}
		second["acl-reads"].check(t, &acl)
		if !slices.Equal(acl.Grants, []string{"FULL_CONTROL", "FULL_CONTROL"}) || acl.PublicRead != "AccessControlListNotSupported" {
			t.Fatalf("ACLs: %+v", acl)
		}
	})
	t.Run("deletes", func(t *testing.T) {
		g.boto3Steps(t, python, b, "deletes")["deletes"].check(t, nil)
		if g.head(t, b, "moved.txt") != nil || len(g.keys(t, b, "many/")) != 0 {
			t.Fatal("objects left after delete")
		}
	})
	t.Run("forced bucket removal", func(t *testing.T) {
		g.boto3Steps(t, python, b, "forced-bucket-removal")["forced-bucket-removal"].check(t, nil)
		if g.bucketExists(b) {
			t.Fatal("bucket left")
		}
	})
}

// curlUpload PUTs a body to a URL with curl, as a browser-less client of a presigned upload
// link would.
func curlUpload(t *testing.T, u, body string, headers ...string) (int, []byte) {
	t.Helper()
	args := []string{"-sS", "-X", "PUT", "--data-binary", body, "-o", "-", "-w", "\n%{http_code}", u}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command(s3tools.Debian(t, "curl"), args...).Output()
	if err != nil {
		t.Fatalf("curl PUT %s: %v", u, err)
	}
	i := bytes.LastIndexByte(out, '\n')
	status := 0
	for _, c := range out[i+1:] {
		status = status*10 + int(c-'0')
	}
	return status, out[:i]
}
