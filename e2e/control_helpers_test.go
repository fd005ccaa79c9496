package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const e2eAdminPassword = "e2e-admin-password"

// serveProcess starts "presign serve" on free ports with its own data directory and waits until
// the control plane is ready (its bucket exists).
func serveProcess(t *testing.T, extra ...string) *process {
	t.Helper()
	data := t.TempDir()
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0"}, extra...)
	p := start(t, []string{"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword}, args, "control plane", "storage node")
	p.data = data
	waitReady(t, p.url("control plane"))
	return p
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/readyz never answered 200", base)
}

// api is a client of the control plane's JSON API with one bearer token.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (a *api) as(token string) *api { return &api{t: a.t, base: a.base, token: token} }

// call sends a JSON request, decodes a 2xx answer into out, and returns the status and the
// error code of an error answer.
func (a *api) call(method, path string, body, out any) (int, string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error, Message string }
		if json.Unmarshal(raw, &e) != nil || e.Error == "" || e.Message == "" {
			a.t.Fatalf("%s %s: %d answer is not {error, message}: %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, e.Error
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, ""
}

func (a *api) must(want int, method, path string, body, out any) {
	a.t.Helper()
	if st, code := a.call(method, path, body, out); st != want {
		a.t.Fatalf("%s %s: got %d %s, want %d", method, path, st, code, want)
	}
}

func (a *api) login(user, password string) *api {
	a.t.Helper()
	var s struct{ Token string }
	a.as("").must(200, "POST", "/v1/login", map[string]string{"username": user, "password": password}, &s)
	return a.as(s.Token)
}

// adminAPI logs in as the administrator of the process.
func adminAPI(t *testing.T, p *process) *api {
	return (&api{t: t, base: p.url("control plane")}).login("admin", e2eAdminPassword)
}

// newUser creates a user (policy may be nil) and returns its session and id.
func (a *api) newUser(name string, policy map[string]any) (*api, string) {
	a.t.Helper()
	body := map[string]any{"username": name, "password": name + "-password"}
	if policy != nil {
		body["policy"] = policy
	}
	var u struct{ ID string }
	a.must(201, "POST", "/v1/users", body, &u)
	return a.login(name, name+"-password"), u.ID
}

type ticket struct {
	ID        string            `json:"id"`
	Key       string            `json:"key"`
	State     string            `json:"state"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Fields    map[string]string `json:"fields"`
	Multipart bool              `json:"multipart"`
	PartSize  int64             `json:"part_size"`
	PartCount int               `json:"part_count"`
}

type uploadView struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	FailReason string `json:"fail_reason"`
}

type fileView struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	ETag     string `json:"etag"`
}

// put sends body to a ticket's URL with its headers, as any HTTP client would.
func put(t *testing.T, tk ticket, body []byte) (int, string) {
	t.Helper()
	h := http.Header{}
	for k, v := range tk.Headers {
		h.Set(k, v)
	}
	st, code, _ := httpDo(t, "PUT", tk.URL, h, bytes.NewReader(body))
	return st, code
}

// waitState polls the upload until it is in state want.
func (a *api) waitState(id, want string, within time.Duration) uploadView {
	a.t.Helper()
	var u uploadView
	deadline := time.Now().Add(within)
	for {
		a.must(200, "GET", "/v1/uploads/"+id, nil, &u)
		if u.State == want {
			return u
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("upload %s is %s (%s), not %s, after %v", id, u.State, u.FailReason, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rootS3 is an S3 client with the storage node's root keys from its data directory.
func rootS3(t *testing.T, p *process) *s3.Client {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.data, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	json.Unmarshal(b, &c)
	return s3.New(s3.Options{Region: testRegion, Credentials: credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""),
		BaseEndpoint: aws.String(p.url("storage node")), UsePathStyle: true})
}

func objectStored(t *testing.T, c *s3.Client, key string) bool {
	t.Helper()
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("presign"), Key: aws.String(key)})
	return err == nil
}
