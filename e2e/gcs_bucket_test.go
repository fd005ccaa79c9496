package e2e

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"presign/control/provider/gcs/gcstest"
	"presign/gcsv4"
)

// gcsBucketName is the bucket serve signs for in the browser tests.
const gcsBucketName = "uploads"

// gcsBucket is fake-gcs-server in process behind a handler that does what Google's XML API does
// where the emulator differs in a way a client sees:
//
//   - Google checks a V4 signed URL's signature: a request that leaves out a signed header, or
//     sends another value, is refused 403 SignatureDoesNotMatch. The emulator checks none, so
//     the handler re-signs what it received (gcsv4, with the service account's key serve
//     signs with) and refuses a request whose signature differs. Forms (POST policies) and the
//     URLs' lifetimes are not checked here: the tests use their URLs at once.
//   - Google answers a signed PUT with the object's ETag in the ETag header; the emulator, in
//     its JSON body only. Uppy's S3 plugin fails a part whose ETag it cannot read.
//   - Google answers CORS by the bucket's configuration (allowOrigin sets the one
//     docs/providers.md gives): a preflight passes when its origin, method and every header
//     it asks for are allowed (the configuration's responseHeader lists the headers both
//     allowed and exposed), and the answer to an allowed origin exposes those headers. The
//     emulator allows any origin and exposes no ETag; its CORS headers are dropped.
//
// Every signed request is recorded with how the handler answered it (signed).
type gcsBucket struct {
	args   []string // serve's flags for the bucket
	emu    *fakestorage.Server
	signer *gcsv4.Signer

	mu   sync.Mutex
	cors []gcsCORSRule
	reqs []gcsSignedRequest
}

// gcsCORSRule is one rule of a bucket's CORS configuration, as gcloud takes it.
type gcsCORSRule struct {
	Origin         []string `json:"origin"`
	Method         []string `json:"method"`
	ResponseHeader []string `json:"responseHeader"`
	MaxAgeSeconds  int      `json:"maxAgeSeconds"`
}

// gcsSignedRequest is a request with a signed URL as the bucket received it.
type gcsSignedRequest struct {
	Method, Object string
	SignedHeaders  string // the URL's X-Goog-SignedHeaders
	Refused        string // why the signature did not match; "" when it did
	Status         int
}

// gcsStore starts fake-gcs-server in process with a bucket behind the handler of gcsBucket,
// writes a service account's key for serve, and returns the bucket; serve's flags are its args.
// No origin is allowed until allowOrigin.
func gcsStore(t *testing.T) *gcsBucket {
	t.Helper()
	emu, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", PublicHost: "127.0.0.1", NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Stop)
	emu.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: gcsBucketName})
	signer, err := gcsv4.ParseServiceAccount(gcstest.ServiceAccount())
	if err != nil {
		t.Fatal(err)
	}
	b := &gcsBucket{emu: emu, signer: signer}
	front := httptest.NewServer(b)
	t.Cleanup(front.Close)

	path := filepath.Join(t.TempDir(), "sa-key.json")
	if err := os.WriteFile(path, gcstest.ServiceAccount(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	// The emulator has no token service: its calls go unauthenticated, and it is the endpoint.
	t.Setenv("STORAGE_EMULATOR_HOST", front.URL)
	b.args = []string{"--storage-provider", "gcs", "--gcs-bucket", gcsBucketName}
	return b
}

// allowOrigin sets the bucket's CORS configuration to the one docs/providers.md gives, for
// origin.
func (b *gcsBucket) allowOrigin(t *testing.T, origin string) {
	t.Helper()
	var rules []gcsCORSRule
	if err := json.Unmarshal(fmt.Appendf(nil, `[{"origin": [%q], "method": ["PUT", "POST", "GET", "HEAD"],
  "responseHeader": ["Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match", "ETag"],
  "maxAgeSeconds": 3600}]`, origin), &rules); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.cors = rules
	b.mu.Unlock()
}

// signed returns the requests with a signed URL the bucket received, in order.
func (b *gcsBucket) signed() []gcsSignedRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.reqs)
}

// signedPUTs counts the PUTs of whole objects and of part objects the bucket stored, and fails
// t for any signed request it refused, and for a stored PUT whose URL did not sign what the GCS
// provider binds: a whole object's type, size range and no overwrite
// (x-goog-if-generation-match), a part's size range.
func (b *gcsBucket) signedPUTs(t *testing.T) (singles, parts int) {
	t.Helper()
	for _, q := range b.signed() {
		if q.Refused != "" {
			t.Errorf("%s %s refused as Google would refuse it: %s", q.Method, q.Object, q.Refused)
		}
		if q.Method != http.MethodPut || q.Status != http.StatusOK {
			continue
		}
		if strings.Contains(q.Object, "~part/") {
			parts++
			if q.SignedHeaders != "host;x-goog-content-length-range" {
				t.Errorf("part %s signed %q, want its size range", q.Object, q.SignedHeaders)
			}
		} else {
			singles++
			if q.SignedHeaders != "content-type;host;x-goog-content-length-range;x-goog-if-generation-match" {
				t.Errorf("%s signed %q, want its type, size range and no overwrite", q.Object, q.SignedHeaders)
			}
		}
	}
	return singles, parts
}

// object is the object's bytes and content type as the emulator holds them.
func (b *gcsBucket) object(t *testing.T, name string) ([]byte, string) {
	t.Helper()
	o, err := b.emu.GetObject(gcsBucketName, name)
	if err != nil {
		t.Fatalf("object %s: %v", name, err)
	}
	return o.Content, o.ContentType
}

// objectNames lists every object of the bucket.
func (b *gcsBucket) objectNames(t *testing.T) []string {
	t.Helper()
	list, err := b.emu.ListObjectsWithOptionsPaginated(gcsBucketName, fakestorage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range list.Objects {
		names = append(names, o.Name)
	}
	return names
}

func (b *gcsBucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		b.preflight(w, r)
		return
	}
	signed := r.URL.Query().Has("X-Goog-Signature")
	if signed {
		if err := b.verify(r); err != nil {
			b.record(r, err.Error(), http.StatusForbidden)
			b.allowCORS(w.Header(), r)
			w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>"+
				"<Message>Access denied.</Message><Details>")
			xml.EscapeText(w, []byte(err.Error()))
			io.WriteString(w, "</Details></Error>")
			return
		}
	}
	rec := httptest.NewRecorder()
	b.emu.HTTPHandler().ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		if !strings.HasPrefix(k, "Access-Control-") {
			w.Header()[k] = v
		}
	}
	b.allowCORS(w.Header(), r)
	if signed && r.Method == http.MethodPut && rec.Code == http.StatusOK {
		var obj struct {
			Etag string `json:"etag"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &obj) == nil && obj.Etag != "" {
			w.Header().Set("ETag", `"`+obj.Etag+`"`)
		}
	}
	if signed {
		b.record(r, "", rec.Code)
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// allowCORS adds the CORS headers of the answer to r when the bucket's configuration allows
// its origin and method.
func (b *gcsBucket) allowCORS(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if rule, ok := b.rule(origin, r.Method); ok {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ResponseHeader, ", "))
		h.Add("Vary", "Origin")
	}
}

// rule is the CORS rule that allows method from origin.
func (b *gcsBucket) rule(origin, method string) (gcsCORSRule, bool) {
	if origin == "" {
		return gcsCORSRule{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.cors {
		if slices.Contains(r.Origin, origin) && slices.Contains(r.Method, method) {
			return r, true
		}
	}
	return gcsCORSRule{}, false
}

// preflight answers a CORS preflight by the bucket's configuration; one it does not allow gets
// no CORS header, which is what makes the browser refuse the request.
func (b *gcsBucket) preflight(w http.ResponseWriter, r *http.Request) {
	origin, method := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
	rule, ok := b.rule(origin, method)
	var asked []string
	for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			asked = append(asked, h)
		}
	}
	for _, h := range asked {
		if !slices.ContainsFunc(rule.ResponseHeader, func(a string) bool { return strings.EqualFold(a, h) }) {
			ok = false
		}
	}
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Allow-Methods", strings.Join(rule.Method, ", "))
	if len(asked) > 0 {
		w.Header().Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
	}
	w.Header().Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	w.Header().Add("Vary", "Origin")
	w.WriteHeader(http.StatusOK)
}

// verify signs again what r carries (its method, bucket and object, the query besides the
// X-Goog-* parameters, and the headers the URL names as signed, with the values r sent) at the
// URL's date and lifetime, and compares the signature with the URL's. A signed header r lacks
// is named in the error.
func (b *gcsBucket) verify(r *http.Request) error {
	q := r.URL.Query()
	date, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil {
		return fmt.Errorf("X-Goog-Date: %w", err)
	}
	secs, err := strconv.Atoi(q.Get("X-Goog-Expires"))
	if err != nil {
		return fmt.Errorf("X-Goog-Expires: %w", err)
	}
	headers := map[string]string{}
	for _, name := range strings.Split(q.Get("X-Goog-SignedHeaders"), ";") {
		if name == "host" {
			continue
		}
		v, ok := r.Header[textproto.CanonicalMIMEHeaderKey(name)]
		if !ok {
			return fmt.Errorf("the signed header %s was not sent", name)
		}
		headers[name] = strings.Join(v, ",")
	}
	rest := url.Values{}
	for k, v := range q {
		if !strings.HasPrefix(k, "X-Goog-") {
			rest[k] = v
		}
	}
	bucket, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	s, err := b.signer.Sign(gcsv4.Request{Method: r.Method, Endpoint: "http://" + r.Host, Bucket: bucket, Object: object,
		Headers: headers, Query: rest}, date, time.Duration(secs)*time.Second)
	if err != nil {
		return err
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return err
	}
	if u.Query().Get("X-Goog-Signature") != q.Get("X-Goog-Signature") {
		return errors.New("the request signature we calculated does not match the signature you provided")
	}
	return nil
}

func (b *gcsBucket) record(r *http.Request, refused string, status int) {
	_, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, gcsSignedRequest{Method: r.Method, Object: object, SignedHeaders: r.URL.Query().Get("X-Goog-SignedHeaders"),
		Refused: refused, Status: status})
}
