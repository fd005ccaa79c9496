package control

import (
	"context"
	"mime"
	"strings"
	"testing"
)

// FuzzContentDisposition: for any name a ticket accepts, as the ticket records it, the header
// is plain ASCII and a standard parser reads the name back from it.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"report.pdf", "naïve café.txt", `a"b\c`, "日本語.txt", "100% done;x=y", " lead and trail ", "emoji-😀.png"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		name, err := cleanFilename(name)
		if err != nil {
			return
		}
		cd := ContentDisposition(name)
		for i := 0; i < len(cd); i++ {
			if cd[i] < ' ' || cd[i] >= 0x7f {
				t.Fatalf("header %q has a byte that is not printable ASCII", cd)
			}
		}
		typ, params, err := mime.ParseMediaType(cd)
		if err != nil || typ != "attachment" || params["filename"] != name {
			t.Fatalf("ContentDisposition(%q) = %q reads back as %q %q, %v", name, cd, typ, params["filename"], err)
		}
	})
}

// FuzzSafeName: whatever the client calls its file, the key part stays one safe segment.
func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"video.mp4", "../../etc/passwd", `..\..\x`, "....", "a/b/c", "名前.txt", ".hidden"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := safeName(name)
		if got == "" || len(got) > 100 || strings.Contains(got, "..") || got[0] == '.' {
			t.Fatalf("safeName(%q) = %q", name, got)
		}
		for i := 0; i < len(got); i++ {
			c := got[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				t.Fatalf("safeName(%q) = %q has %q", name, got, c)
			}
		}
	})
}

// FuzzParseHash: a stored hash is parsed or refused, never a panic, and never with parameters
// that would make a login allocate without bound.
func FuzzParseHash(f *testing.F) {
	h := newHasher(1, 1)
	enc, _ := h.hash(context.Background(), "password")
	for _, s := range []string{enc, "", "$argon2id$v=19$m=1,t=1,p=1$$", "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseHash(s)
		if err == nil && (p.memory > 1<<20 || p.time > 16 || len(p.key) > 64) {
			t.Fatalf("parseHash(%q) accepted %+v", s, p)
		}
	})
}
