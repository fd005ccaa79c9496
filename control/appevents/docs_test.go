package appevents_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"presign/control/appevents"
	"presign/internal/testenv"
)

// codeBlock returns the first fenced block of the language in the markdown.
func codeBlock(t *testing.T, md, lang string) string {
	t.Helper()
	_, rest, ok := strings.Cut(md, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("no %s block", lang)
	}
	code, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatalf("unterminated %s block", lang)
	}
	return code + "\n"
}

// Harnesses that feed the documented verify function one JSON case per line and print its
// answer.
const (
	pythonHarness = `
import json, sys
for line in sys.stdin:
    c = json.loads(line)
    print(json.dumps(bool(verify(c["secret"], c["headers"], base64.b64decode(c["body"])))), flush=True)
`
	nodeHarness = `
const lines = require("node:readline").createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const c = JSON.parse(line);
  console.log(JSON.stringify(Boolean(verify(c.secret, c.headers, Buffer.from(c.body, "base64")))));
});
`
)

// The ten-line verifiers docs/app-events.md gives for other languages accept what presign
// signs and refuse changed bodies, other secrets and stale timestamps.
func TestDocumentedVerifiersAcceptPresignSignatures(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "app-events.md"))
	if err != nil {
		t.Fatal(err)
	}
	s, other := appevents.NewSecret(), appevents.NewSecret()
	body := []byte(`{"id":"evt_1","type":"upload.completed","data":{"upload_id":"u1","file":{"filename":"naïve 東京.mp4"}}}`)
	now := time.Now()
	type tc struct {
		name    string
		secret  string
		headers map[string]string
		body    []byte
		want    bool
	}
	cases := []tc{
		{"signed", s.Encode(), appevents.Headers("evt_1", now, body, s), body, true},
		{"rotated", s.Encode(), appevents.Headers("evt_1", now, body, other, s), body, true},
		{"body changed", s.Encode(), appevents.Headers("evt_1", now, body, s), bytes.Replace(body, []byte("u1"), []byte("u2"), 1), false},
		{"another secret", other.Encode(), appevents.Headers("evt_1", now, body, s), body, false},
		{"ten minutes old", s.Encode(), appevents.Headers("evt_1", now.Add(-10*time.Minute), body, s), body, false},
	}
	var input bytes.Buffer
	for _, c := range cases {
		json.NewEncoder(&input).Encode(map[string]any{"secret": c.secret, "headers": c.headers,
			"body": base64.StdEncoding.EncodeToString(c.body)})
	}
	run := func(t *testing.T, bin string, args ...string) {
		path, err := exec.LookPath(bin)
		if err != nil {
			testenv.Missing(t, "%s not installed: %v", bin, err)
		}
		cmd := exec.Command(path, args...)
		cmd.Stdin = bytes.NewReader(input.Bytes())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, out)
		}
		answers := strings.Fields(string(out))
		if len(answers) != len(cases) {
			t.Fatalf("%s answered %q", bin, out)
		}
		for i, c := range cases {
			if got := answers[i] == "true"; got != c.want {
				t.Errorf("%s: %s: verify = %v, want %v", bin, c.name, got, c.want)
			}
		}
	}
	dir := t.TempDir()
	t.Run("python", func(t *testing.T) {
		f := filepath.Join(dir, "verify.py")
		os.WriteFile(f, []byte(codeBlock(t, string(md), "python")+pythonHarness), 0o644)
		run(t, "python3", f)
	})
	t.Run("node", func(t *testing.T) {
		f := filepath.Join(dir, "verify.cjs")
		os.WriteFile(f, []byte(codeBlock(t, string(md), "js")+nodeHarness), 0o644)
		run(t, "node", f)
	})
}
