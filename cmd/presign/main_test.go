package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"presign/internal/tcpcc"
	"presign/internal/testenv"
)

func testMain(env map[string]string) (*Main, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Main{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}, &out, &errb
}

func TestUnknownCommandExitsWithUsage(t *testing.T) {
	m, _, errb := testMain(nil)
	err := m.Run(context.Background(), []string{"frobnicate"})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(errb.String(), "Usage:") {
		t.Fatalf("got %v, stderr %q", err, errb)
	}
}

func TestByteSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"5GiB", 5 << 30, true}, {"100 MiB", 100 << 20, true}, {"2KB", 2000, true},
		{"7B", 7, true}, {"-1", 0, false}, {"lots", 0, false}, {"1.5GiB", 0, false}, {"99999999999TiB", 0, false},
	} {
		var b byteSize
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int64(b) != tc.want) {
			t.Errorf("%q: got %d, %v", tc.in, b, err)
		}
	}
}

func TestNotifyTargetsPairURLsWithSecrets(t *testing.T) {
	const s1, s2 = "0123456789abcdef-one", "0123456789abcdef-two"
	for _, tc := range []struct {
		name    string
		urls    []string
		secrets []string
		env     string
		want    []string // secret per target
		err     string
	}{
		{"none", nil, nil, "", nil, ""},
		{"one secret for all", []string{"http://a/h", "https://b/h"}, []string{s1}, "", []string{s1, s1}, ""},
		{"one per URL", []string{"http://a/h", "http://b/h"}, []string{s1, s2}, "", []string{s1, s2}, ""},
		{"from the environment", []string{"http://a/h"}, nil, s2, []string{s2}, ""},
		{"count mismatch", []string{"http://a", "http://b", "http://c"}, []string{s1, s2}, "", nil, "secrets"},
		{"no secret", []string{"http://a/h"}, nil, "", nil, "secrets"},
		{"short secret", []string{"http://a/h"}, []string{"short"}, "", nil, "shorter"},
		{"not http", []string{"ftp://a/h"}, []string{s1}, "", nil, "not an http"},
		{"secret without URL", nil, []string{s1}, "", nil, "without"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := notifyFlags{urls: tc.urls, secrets: tc.secrets}
			ts, err := f.targets(tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error about %q", err, tc.err)
				}
				return
			}
			if err != nil || len(ts) != len(tc.want) {
				t.Fatalf("got %v, %v", ts, err)
			}
			for i, tg := range ts {
				if string(tg.Secret) != tc.want[i] || tg.URL != tc.urls[i] {
					t.Fatalf("target %d: %v", i, tg)
				}
			}
		})
	}
}

func TestRootCredentialsGeneratedOnceAndKeptPrivate(t *testing.T) {
	dir := t.TempDir()
	m, out, _ := testMain(nil)
	c1, err := m.rootCredentials(dir, out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), c1.SecretAccessKey) {
		t.Fatal("generated secret not shown on first start")
	}
	fi, err := os.Stat(filepath.Join(dir, credentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi.Mode(), err)
	}
	out.Reset()
	c2, err := m.rootCredentials(dir, out)
	if err != nil || c2 != c1 {
		t.Fatalf("second start: %v %+v", err, c2)
	}
	if out.Len() != 0 {
		t.Fatalf("secret shown again: %q", out)
	}
	env, _, _ := testMain(map[string]string{"PRESIGN_ACCESS_KEY": "AK", "PRESIGN_SECRET_KEY": "SK"})
	if c, err := env.rootCredentials(dir, out); err != nil || c.AccessKeyID != "AK" || c.SecretAccessKey != "SK" {
		t.Fatalf("environment keys: %+v %v", c, err)
	}
	half, _, _ := testMain(map[string]string{"PRESIGN_ACCESS_KEY": "AK"})
	if _, err := half.rootCredentials(dir, out); err == nil {
		t.Fatal("an access key without a secret was accepted")
	}
	os.WriteFile(filepath.Join(dir, credentialsFile), []byte("{"), 0o600)
	if _, err := m.rootCredentials(dir, out); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
}

// A refused congestion control fails the start; the listener's is refused before anything is
// written to --data (the backend's, like every backend setting, when the backend opens).
func TestUnknownTCPCongestionFailsTheStart(t *testing.T) {
	for _, tc := range []struct {
		name, args   string
		writesNoData bool
	}{
		{"listener", "--tcp-congestion no-such-cc", true},
		{"backend", "--backend s3 --backend-endpoint http://127.0.0.1:1 --backend-bucket b --backend-tcp-congestion no-such-cc", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			m, _, _ := testMain(map[string]string{"PRESIGN_BACKEND_ACCESS_KEY": "a", "PRESIGN_BACKEND_SECRET_KEY": "b"})
			args := append([]string{"storage", "--data", data, "--addr", "127.0.0.1:0"}, strings.Fields(tc.args)...)
			err := m.Run(t.Context(), args)
			if err == nil || !strings.Contains(err.Error(), `TCP congestion control "no-such-cc"`) {
				t.Fatalf("got %v, want an error naming the algorithm", err)
			}
			if _, serr := os.Stat(data); tc.writesNoData && !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("the refused start left %s behind (stat: %v)", data, serr)
			}
		})
	}
}

// The node's listener chooses reno on a loopback address unless told otherwise, and its
// connections inherit the listener's choice.
func TestStorageListenerCongestionControlDefaultsToRenoOnLoopback(t *testing.T) {
	def := testenv.CongestionDefaultNotReno(t)
	for _, tc := range []struct{ args, want string }{
		{"", "reno"},
		{"--tcp-congestion host", def},
		{"--tcp-congestion " + def, def},
	} {
		fs := flag.NewFlagSet("storage", flag.ContinueOnError)
		var sf storageFlags
		sf.register(fs, "addr")
		if err := fs.Parse(append(strings.Fields(tc.args), "--addr", "127.0.0.1:0")); err != nil {
			t.Fatal(err)
		}
		ln, err := listenTCP(t.Context(), sf.addr, sf.tcpCongestion)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tcpcc.Get(ln.(*net.TCPListener))
		ln.Close()
		if err != nil || got != tc.want {
			t.Errorf("storage %s: the listener uses %q (%v), want %q", tc.args, got, err, tc.want)
		}
	}
}
