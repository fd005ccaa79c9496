package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"presign/bench/internal/load"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

func TestJSONHasOneLinePerPhaseOfARealRun(t *testing.T) {
	b, err := disk.Open(t.Context(), disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv, err := storage.New(storage.Config{Backend: b, Credentials: sigv4.StaticCredentials{"S3LOADKEY": "s3load-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3load-secret")

	var out, errb bytes.Buffer
	code := run([]string{"-endpoint", ts.URL, "-access-key", "S3LOADKEY", "-scenario", "big", "-size", "3KiB", "-json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", out.String())
	}
	for i, phase := range []string{"put", "get"} {
		var r load.Result
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatalf("line %q: %v", lines[i], err)
		}
		if r.Phase != phase || r.Scenario != "big" || r.Size != 3<<10 || r.MBps <= 0 {
			t.Errorf("line %d: %+v", i+1, r)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-size", "4KB"},
		{"-no-such-flag"},
		{"-scenario", "big", "extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errb.String())
		}
	}
}
