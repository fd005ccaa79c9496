package control

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestSafeNameNeverEscapesTheNamespace(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"video.mp4", "video.mp4"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\me\report.pdf`, "report.pdf"},
		{"héllo wörld.txt", "h_llo_w_rld.txt"},
		{"..hidden", "hidden"},
		{"a..b", "a.b"},
		{"...", "file"},
		{"日本語", "file"},
		{"a%2Fb?c=d&e#f", "a_2Fb_c_d_e_f"},
		{strings.Repeat("x", 300) + ".tar.gz", strings.Repeat("x", 97) + ".gz"},
		// The cut at 96 bytes ends in a dot: no ".." before the extension (found by FuzzSafeName).
		{strings.Repeat("x", 95) + "." + strings.Repeat("y", 20) + ".000", strings.Repeat("x", 95) + ".000"},
	} {
		got := safeName(tc.in)
		if got != tc.want {
			t.Errorf("safeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.ContainsAny(got, "/\\") || strings.Contains(got, "..") || len(got) > 100 {
			t.Errorf("safeName(%q) = %q is not safe", tc.in, got)
		}
	}
}

func TestContentDispositionCarriesUnicodeNamesPerRFC6266(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", `attachment; filename="report.pdf"`},
		{"my report.pdf", `attachment; filename="my report.pdf"`},
		{"naïve.txt", `attachment; filename="na_ve.txt"; filename*=UTF-8''na%C3%AFve.txt`},
		{`say "hi".txt`, `attachment; filename="say _hi_.txt"; filename*=UTF-8''say%20%22hi%22.txt`},
		{"日本.txt", `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`},
	} {
		if got := ContentDisposition(tc.in); got != tc.want {
			t.Errorf("ContentDisposition(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPartPlanStaysWithinS3Limits(t *testing.T) {
	for _, tc := range []struct {
		size      int64
		wantSize  int64
		wantCount int
	}{
		{100 << 20, 16 << 20, 7},
		{160 << 20, 16 << 20, 10},
		{1 << 40, 105 << 20, 9987},
		{MaxObjectSize, 525 << 20, 9987},
	} {
		ps, n := partPlan(tc.size, DefaultPartSize)
		if ps != tc.wantSize || n != tc.wantCount {
			t.Errorf("partPlan(%d) = %d×%d, want %d×%d", tc.size, n, ps, tc.wantCount, tc.wantSize)
		}
		if n > MaxParts || int64(n-1)*ps >= tc.size || int64(n)*ps < tc.size {
			t.Errorf("partPlan(%d) = %d×%d does not cover the size in at most %d parts", tc.size, n, ps, MaxParts)
		}
		u := &Upload{Size: tc.size, PartSize: ps, PartCount: n}
		if last := partLength(u, n); last <= 0 || last > ps {
			t.Errorf("last part of %d is %d bytes", tc.size, last)
		}
	}
}

func TestTypeAllowedMatchesPatterns(t *testing.T) {
	for _, tc := range []struct {
		mt       string
		patterns []string
		want     bool
	}{
		{"video/mp4", []string{"video/*"}, true},
		{"video/mp4", []string{"image/*", "video/mp4"}, true},
		{"video/mp4", []string{"Video/MP4"}, true},
		{"image/png", []string{"video/*"}, false},
		{"video/mp4", []string{"*/*"}, true},
		{"video/mp4", nil, true},
		{"video/mp4", []string{}, true},
		{"videos/mp4", []string{"video/*"}, false},
	} {
		if got := typeAllowed(tc.mt, tc.patterns); got != tc.want {
			t.Errorf("typeAllowed(%q, %v) = %v", tc.mt, tc.patterns, got)
		}
	}
}

func TestPolicyChecksNameTheField(t *testing.T) {
	neg := int64(-1)
	week := 7*24*3600 + 1
	for _, tc := range []struct {
		o     PolicyOverride
		field string
	}{
		{PolicyOverride{MaxObjectBytes: &neg}, "max_object_bytes"},
		{PolicyOverride{QuotaBytes: &neg}, "quota_bytes"},
		{PolicyOverride{URLTTLSeconds: &week}, "url_ttl_seconds"},
		{PolicyOverride{AllowedContentTypes: []string{"video"}}, "allowed_content_types"},
		{PolicyOverride{AllowedContentTypes: []string{"*/mp4"}}, "allowed_content_types"},
	} {
		err := checkOverride(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: got %v, want an error naming %s", tc.o, err, tc.field)
		}
	}
	if err := checkPolicy(BuiltinPolicy()); err != nil {
		t.Errorf("the built-in policy is refused: %v", err)
	}
}

func TestDecodeSHA256AcceptsHexAndBase64(t *testing.T) {
	const hexSum = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
	const b64Sum = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
	for _, v := range []string{hexSum, strings.ToUpper(hexSum), b64Sum} {
		b, err := decodeChecksum("sha256", v, 32, "SHA-256")
		if err != nil || len(b) != 32 || b[0] != 0xb9 {
			t.Errorf("decodeChecksum(%q) = %x, %v", v, b, err)
		}
	}
	for _, v := range []string{"", "abc", hexSum[:62], "zz" + hexSum[2:], b64Sum[:40]} {
		if _, err := decodeChecksum("sha256", v, 32, "SHA-256"); err == nil {
			t.Errorf("decodeChecksum(%q) accepted", v)
		}
	}
}

func TestPasswordHashesVerifyOnlyTheirPassword(t *testing.T) {
	h := newHasher(1, 1)
	ctx := context.Background()
	enc, err := h.hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the chosen parameters", enc)
	}
	if ok, err := h.verify(ctx, enc, "correct horse"); !ok || err != nil {
		t.Fatalf("the right password: %v, %v", ok, err)
	}
	if ok, _ := h.verify(ctx, enc, "correct horsE"); ok {
		t.Fatal("a wrong password verified")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"} {
		if _, err := h.verify(ctx, bad, "x"); err == nil {
			t.Errorf("hash %q was accepted", bad)
		}
	}
}

func TestIDsSortByTimeAndDoNotRepeat(t *testing.T) {
	seen := map[string]bool{}
	var ids []string
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		id := newID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 || seen[id] || strings.Trim(id, crockford) != "" {
			t.Fatalf("id %q: bad length, repeated, or outside the alphabet", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids made later do not sort later")
	}
}

// TestOpenAPIDocumentsEveryRoute keeps the served OpenAPI document and the router in step:
// every route is documented with its method, and every documented operation is routed.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range (&Service{}).routes(nil) {
		routed[rt.method+" "+rt.pattern] = true
		if !documented[rt.method+" "+rt.pattern] {
			t.Errorf("route %s %s is not in openapi.json", rt.method, rt.pattern)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("openapi.json documents %s, which no route serves", op)
		}
	}
}
