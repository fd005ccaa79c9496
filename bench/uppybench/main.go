// Command uppybench compares an unmodified Uppy 6 uploading one file through presign's
// Companion-compatible routes with the same upload through Uppy's own signing server,
// @uppy/companion, in front of the same presign storage node. The two alternate in one run, in
// headless Chromium, so the machine's noise falls on both; it prints each round and the
// medians.
//
//	(cd e2e/testdata/uppy && npm ci) && (cd bench/uppybench/companion && npm ci)
//	go run ./bench/uppybench -rounds 3 -size 120MiB
//
// Uppy decides the route itself: above 100 MiB it uploads in parts of its own size (5 MiB for
// files up to about 48 GiB), one part at a time, each signed just before it is sent; below, one
// POST form. Through presign every signing call also records, checks and audits the upload, and
// the upload ends completed in presign's store; through Companion nothing is recorded.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds; each uploads once through presign and once through Companion")
	size := flag.String("size", "120MiB", "size of the file (MiB)")
	uppyDir := flag.String("uppy-dir", "e2e/testdata/uppy", "the npm project with Uppy, esbuild, playwright-core and the driver uppy.js")
	companionDir := flag.String("companion-dir", "bench/uppybench/companion", "the npm project with @uppy/companion")
	flag.Parse()
	mib, err := strconv.Atoi(strings.TrimSuffix(*size, "MiB"))
	if err != nil || mib < 1 {
		fmt.Fprintln(os.Stderr, "uppybench: -size must be like 120MiB")
		os.Exit(2)
	}
	if err := run(*rounds, int64(mib)<<20, *uppyDir, *companionDir); err != nil {
		fmt.Fprintln(os.Stderr, "uppybench:", err)
		os.Exit(1)
	}
}

// proc is a child process whose output is kept for when it fails.
type proc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (p *proc) stop() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
		}
	}
}

func start(dir string, env []string, name string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(name, args...)}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	return p, p.cmd.Start()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHTTP(url string, ok func(int) bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", url)
}

func run(rounds int, size int64, uppyDir, companionDir string) error {
	tmp, err := os.MkdirTemp("", "uppybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	uppyDir, _ = filepath.Abs(uppyDir)
	companionDir, _ = filepath.Abs(companionDir)

	// The application's page: Uppy bundled by esbuild, on an origin of its own.
	bundle := filepath.Join(tmp, "page")
	if out, err := exec.Command(filepath.Join(uppyDir, "node_modules", ".bin", "esbuild"), filepath.Join(uppyDir, "page.js"), "--bundle",
		"--format=esm", "--outfile="+filepath.Join(bundle, "bundle.js"), "--log-level=warning").CombinedOutput(); err != nil {
		return fmt.Errorf("esbuild: %v\n%s", err, out)
	}
	index, err := os.ReadFile(filepath.Join(uppyDir, "index.html"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "index.html"), index, 0o644); err != nil {
		return err
	}
	pageLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(pageLn, http.FileServer(http.Dir(bundle)))
	page := "http://" + pageLn.Addr().String()

	// presign serve, built from this checkout.
	bin := filepath.Join(tmp, "presign")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presign").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	control, err := freePort()
	if err != nil {
		return err
	}
	storage, err := freePort()
	if err != nil {
		return err
	}
	ak, sk, admin := "PSBENCH"+strings.ToUpper(rand.Text()[:10]), rand.Text(), rand.Text()
	serve, err := start(tmp, []string{"PRESIGN_ACCESS_KEY=" + ak, "PRESIGN_SECRET_KEY=" + sk, "PRESIGN_ADMIN_PASSWORD=" + admin},
		bin, "serve", "--data", filepath.Join(tmp, "data"), "--addr", control, "--storage-addr", storage, "--cors-origin", page, "--ticket-rate", "0")
	if err != nil {
		return err
	}
	defer serve.stop()
	if err := waitHTTP("http://"+control+"/readyz", func(c int) bool { return c == 200 }); err != nil {
		return fmt.Errorf("%w\n%s", err, serve.out.String())
	}
	endpoint, err := mintToken("http://"+control, admin)
	if err != nil {
		return err
	}

	// Companion in front of the same storage node, with the same keys and bucket.
	companionAddr, err := freePort()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(companionAddr)
	companion, err := start(companionDir, []string{"COMPANION_AWS_KEY=" + ak, "COMPANION_AWS_SECRET=" + sk, "COMPANION_AWS_BUCKET=presign",
		"COMPANION_AWS_ENDPOINT=http://" + storage, "COMPANION_AWS_REGION=us-east-1", "COMPANION_AWS_FORCE_PATH_STYLE=true",
		"COMPANION_SECRET=" + rand.Text(), "COMPANION_PREAUTH_SECRET=" + rand.Text(), "COMPANION_DOMAIN=" + companionAddr, "COMPANION_PROTOCOL=http",
		"COMPANION_PORT=" + port, "COMPANION_DATADIR=" + tmp, "COMPANION_CLIENT_ORIGINS=" + page, "COMPANION_UPLOAD_URLS=http://" + storage + "/.*"},
		filepath.Join(companionDir, "node_modules", ".bin", "companion"))
	if err != nil {
		return err
	}
	defer companion.stop()
	if err := waitHTTP("http://"+companionAddr+"/s3/params?filename=x&type=a/b", func(c int) bool { return c == 200 }); err != nil {
		return fmt.Errorf("companion: %w\n%s", err, companion.out.String())
	}

	file := filepath.Join(tmp, "video.bin")
	if err := writeRandom(file, size); err != nil {
		return err
	}
	fmt.Printf("Uppy 6.3.1 uploading %d MiB from headless Chromium to presign's storage node on loopback\n", size>>20)
	var times = map[string][]float64{}
	for r := range rounds {
		order := []string{"presign", "companion"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, who := range order {
			ep := endpoint
			if who == "companion" {
				ep = "http://" + companionAddr
			}
			secs, parts, err := uppyUpload(uppyDir, page, ep, file, filepath.Join(tmp, fmt.Sprintf("profile-%d-%s", r, who)))
			if err != nil {
				return fmt.Errorf("round %d, %s: %w\npresign:\n%s\ncompanion:\n%s", r+1, who, err, serve.out.String(), companion.out.String())
			}
			times[who] = append(times[who], secs)
			fmt.Printf("round %d %-9s %.2f s (%.0f MiB/s, %d parts)\n", r+1, who, secs, float64(size>>20)/secs, parts)
		}
	}
	p, c := median(times["presign"]), median(times["companion"])
	fmt.Printf("median of %d rounds: presign %.2f s, companion %.2f s; presign/companion %.3f\n", rounds, p, c, p/c)
	return nil
}

// mintToken creates an application user and its upload token, as an application's server does,
// and returns the token's companion_endpoint.
func mintToken(base, adminPassword string) (string, error) {
	admin, err := post(base, "", "/v1/login", map[string]string{"username": "admin", "password": adminPassword}, "token")
	if err != nil {
		return "", err
	}
	name := "bench-" + strings.ToLower(rand.Text()[:6])
	if _, err := post(base, admin, "/v1/users", map[string]any{"username": name, "password": name + "-password",
		"policy": map[string]any{"quota_bytes": 0, "max_pending_uploads": 0}}, ""); err != nil {
		return "", err
	}
	user, err := post(base, "", "/v1/login", map[string]string{"username": name, "password": name + "-password"}, "token")
	if err != nil {
		return "", err
	}
	return post(base, user, "/v1/upload-tokens", map[string]any{"subject": "bench", "expires_in_seconds": 86400}, "companion_endpoint")
}

// post sends a JSON request and returns the string field of the answer ("" for none).
func post(base, token, path string, body any, field string) (string, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return "", fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	if field == "" {
		return "", nil
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	s, _ := m[field].(string)
	if s == "" {
		return "", fmt.Errorf("POST %s: no %s in %s", path, field, raw)
	}
	return s, nil
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var partPath = regexp.MustCompile(`/s3/multipart/[^/]+/\d+$`)

// uppyUpload runs the driver's upload scenario and returns the seconds from pressing Upload to
// Uppy's complete event, and how many parts were signed.
func uppyUpload(uppyDir, page, endpoint, file, profile string) (float64, int, error) {
	cfg, _ := json.Marshal(map[string]any{"pageURL": page + "/?companion=" + endpoint, "userDataDir": profile, "files": []string{file}, "scenario": "upload"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "uppy.js", string(cfg))
	cmd.Dir = uppyDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Error     string
		StartedAt int64
		Events    []struct {
			Type               string
			At                 int64
			Successful, Failed int
		}
		Requests []struct{ Path string }
	}
	if jerr := json.Unmarshal(out, &res); err != nil || jerr != nil || res.Error != "" {
		return 0, 0, errors.Join(err, jerr, fmt.Errorf("driver: %s %s", res.Error, stderr.String()))
	}
	for _, e := range res.Events {
		if e.Type == "complete" {
			if e.Successful != 1 || e.Failed != 0 {
				return 0, 0, fmt.Errorf("upload failed: %s", out)
			}
			parts := 0
			for _, q := range res.Requests {
				if partPath.MatchString(q.Path) {
					parts++
				}
			}
			return float64(e.At-res.StartedAt) / 1000, parts, nil
		}
	}
	return 0, 0, fmt.Errorf("no complete event: %s", out)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
