package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docs/configuration.md is generated from the code: each command's flags as its FlagSet prints
// them (-h), and the environment variables the binary reads, described below. The test fails
// when the file differs from what the code says; -update-config-reference rewrites it:
//
//	go test ./cmd/presign -run TestConfigurationReferenceIsCurrent -update-config-reference
var updateConfigReference = flag.Bool("update-config-reference", false, "rewrite docs/configuration.md from the code")

const configReferencePath = "../../docs/configuration.md"

// environment describes every variable the binary reads. A variable read in the source but
// missing here, or described here but read nowhere, fails the test; those in fromGo are read by
// Go's standard library rather than by presign's code.
var environment = []struct{ name, commands, meaning string }{
	{"PRESIGN_ACCESS_KEY", "storage, serve, control", "storage: the root access key (with PRESIGN_SECRET_KEY; else `credentials.json` in the data directory, generated on first start). control: the storage's access key, which signs the S3 calls and the URLs (required)."},
	{"PRESIGN_SECRET_KEY", "storage, serve, control", "the secret of PRESIGN_ACCESS_KEY. Never logged."},
	{"PRESIGN_ADMIN_PASSWORD", "serve, control", "password of the administrator `admin`, created on the first start against an empty metadata store; unset: a password is generated and printed once."},
	{"PRESIGN_APP_EVENT_SECRET", "serve, control", "the Standard Webhooks secret (`whsec_…`) signing the application events of `--app-webhook` and `--app-broker` when `--app-event-secret` is not given; see docs/app-events.md."},
	{"PRESIGN_NOTIFY_SECRET", "storage, serve, control", "storage: the webhook secret of `--notify-url` when `--notify-secret` is not given. control: the secret storage events are verified with (`--notify-secret`); none: `/v1/storage-events` is refused and completion comes from `complete` and the reconciler."},
	{"PRESIGN_BACKEND_ACCESS_KEY", "storage, serve (`--backend s3`)", "access key of the S3 service behind a gateway node."},
	{"PRESIGN_BACKEND_SECRET_KEY", "storage, serve (`--backend s3`)", "secret of PRESIGN_BACKEND_ACCESS_KEY."},
	{"PRESIGN_METRICS_TOKEN", "servers", "the bearer token `/metrics` (control plane) and `/_presign/metrics` (storage node) require when `--metrics-token` is not given; unset: metrics are served to loopback clients only (see docs/control-plane.md)."},
	{"AZURE_STORAGE_KEY", "serve, control (`--storage-provider azure`)", "the storage account's shared key (base64), which makes the control plane's calls and signs every SAS. Never logged."},
	{"AZURE_STORAGE_CONNECTION_STRING", "serve, control (`--storage-provider azure`)", "instead of AZURE_STORAGE_KEY: an account-key connection string (`AccountName=…;AccountKey=…[;BlobEndpoint=…]`, or `UseDevelopmentStorage=true` for Azurite); flags given win over its values. See docs/providers.md."},
	{"GOOGLE_APPLICATION_CREDENTIALS", "serve, control (`--storage-provider gcs`)", "path of a service account's JSON key file: it authenticates the control plane's calls and signs the V4 URLs locally unless an HMAC key is given (required). See docs/providers.md."},
	{"PRESIGN_GCS_HMAC_SECRET", "serve, control (`--storage-provider gcs`)", "the secret of the HMAC key `--gcs-hmac-access-id` names: with both, the V4 URLs are signed with the HMAC key (GOOG4-HMAC-SHA256) instead of the service account's RSA key; one without the other fails the start. Never logged. See docs/providers.md."},
	{"STORAGE_EMULATOR_HOST", "serve, control (`--storage-provider gcs`)", "a GCS emulator's `host:port` or URL (fake-gcs-server), as for Google's client libraries: the endpoint when `--gcs-endpoint` is not given (`http://` unless a scheme is given). A plain-HTTP endpoint is called without authentication; URLs are still signed with the key of GOOGLE_APPLICATION_CREDENTIALS."},
	{"PRESIGN_LOG", "servers", "`debug` for debug logs; info otherwise."},
	{"PRESIGN_PPROF", "servers", "address to serve `net/http/pprof` on, e.g. `127.0.0.1:6061`; off when unset. Keep it on loopback."},
	{"PRESIGN_CONFIG_DIR", "client commands", "where `presign login` keeps the control plane's URL and the session token (default: the user's config directory + `/presign`)."},
	{"PRESIGN_URL", "client commands", "control plane URL, instead of the one saved by `presign login`."},
	{"PRESIGN_TOKEN", "client commands", "session token or API key, instead of the saved session."},
	{"SSL_CERT_FILE", "all", "read by Go: a PEM bundle that replaces the system's trusted roots, e.g. to trust a private CA of the storage's HTTPS endpoint (`SSL_CERT_DIR` likewise)."},
}

var fromGo = []string{"SSL_CERT_FILE"}

// flagDoc is one flag as its FlagSet prints it.
type flagDoc struct {
	name, kind, def, usage string
}

// commandFlags runs "presign CMD -h" and reads the flags from the output of PrintDefaults.
func commandFlags(t *testing.T, cmd string) []flagDoc {
	t.Helper()
	m, out, errb := testMain(map[string]string{"PRESIGN_CONFIG_DIR": t.TempDir()})
	m.Stdin = strings.NewReader("")
	m.Run(context.Background(), []string{cmd, "-h"})
	text := out.String() + errb.String()
	head := regexp.MustCompile(`^  -(\S+)(?:\s+(\S+))?$`)
	short := regexp.MustCompile(`^  -(\S)\t(.*)$`)
	var flags []flagDoc
	for _, line := range strings.Split(text, "\n") {
		switch {
		case head.MatchString(line):
			m := head.FindStringSubmatch(line)
			flags = append(flags, flagDoc{name: m[1], kind: m[2]})
		case short.MatchString(line):
			m := short.FindStringSubmatch(line)
			flags = append(flags, flagDoc{name: m[1], usage: m[2]})
		case strings.HasPrefix(line, "    \t") && len(flags) > 0:
			f := &flags[len(flags)-1]
			f.usage = strings.TrimSpace(f.usage + " " + strings.TrimPrefix(line, "    \t"))
		}
	}
	for i := range flags {
		f := &flags[i]
		if f.kind == "" {
			f.kind = "bool"
		}
		f.usage, f.def = splitDefault(f.usage, f.kind)
	}
	return flags
}

// splitDefault takes the " (default X)" that PrintDefaults appends to a flag's usage off it. A
// usage may say "(default ...)" in its own words too, so the last one is taken, and only when
// X reads as a value of the flag's kind (PrintDefaults quotes strings).
func splitDefault(usage, kind string) (string, string) {
	i := strings.LastIndex(usage, " (default ")
	if i < 0 || !strings.HasSuffix(usage, ")") {
		return usage, ""
	}
	v := usage[i+len(" (default ") : len(usage)-1]
	ok := true
	switch kind {
	case "string":
		_, err := strconv.Unquote(v)
		ok = err == nil
	case "duration":
		_, err := time.ParseDuration(v)
		ok = err == nil
	case "int", "uint", "float":
		_, err := strconv.ParseFloat(v, 64)
		ok = err == nil
	case "bool":
		ok = v == "true" || v == "false"
	}
	if !ok {
		return usage, ""
	}
	if kind == "string" {
		v, _ = strconv.Unquote(v)
	}
	return usage[:i], v
}

// commands are the commands the usage text lists.
func commands() []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  presign ([a-z-]+)`).FindAllStringSubmatch(usage, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// envRead returns the PRESIGN_ variables named in the command's source.
func envRead(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	re := regexp.MustCompile(`"((?:PRESIGN|AZURE_STORAGE|GOOGLE_APPLICATION|STORAGE_EMULATOR)_[A-Z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			if !slices.Contains(names, string(m[1])) {
				names = append(names, string(m[1]))
			}
		}
	}
	slices.Sort(names)
	return names
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// configurationReference renders docs/configuration.md.
func configurationReference(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Every flag of every command and every environment variable of the `presign` binary.\n")
	b.WriteString("Generated from the code — do not edit; after changing a flag run\n\n")
	b.WriteString("```sh\ngo test ./cmd/presign -run TestConfigurationReferenceIsCurrent -update-config-reference\n```\n\n")
	b.WriteString("A test fails while this file and the code disagree. How the settings fit together: ")
	b.WriteString("[deployment.md](deployment.md).\n\n")
	b.WriteString("Sizes take a unit (`5GiB`, `100MiB`, `2KB`) or plain bytes; durations are Go's (`90s`, `15m`, `12h`).\n")
	for _, cmd := range commands() {
		flags := commandFlags(t, cmd)
		if len(flags) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## presign %s\n\n| flag | type | default | meaning |\n|---|---|---|---|\n", cmd)
		for _, f := range flags {
			def, dashes := f.def, "--"
			if def != "" {
				def = "`" + def + "`"
			}
			if len(f.name) == 1 {
				dashes = "-"
			}
			fmt.Fprintf(&b, "| `%s%s` | %s | %s | %s |\n", dashes, f.name, f.kind, cell(def), cell(f.usage))
		}
	}
	b.WriteString("\n## Environment variables\n\n| variable | read by | meaning |\n|---|---|---|\n")
	for _, e := range environment {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", e.name, e.commands, cell(e.meaning))
	}
	return b.Bytes()
}

func TestConfigurationReferenceIsCurrent(t *testing.T) {
	read := envRead(t)
	var described []string
	for _, e := range environment {
		described = append(described, e.name)
		if !slices.Contains(read, e.name) && !slices.Contains(fromGo, e.name) {
			t.Errorf("%s is described in the reference but the code reads it nowhere", e.name)
		}
	}
	for _, name := range read {
		if !slices.Contains(described, name) {
			t.Errorf("the code reads %s: describe it in environment (configref_test.go)", name)
		}
	}
	for _, cmd := range []string{"serve", "storage", "control"} {
		if len(commandFlags(t, cmd)) < 5 {
			t.Fatalf("read too few flags of presign %s: the -h output format changed?", cmd)
		}
	}
	want := configurationReference(t)
	if *updateConfigReference {
		if err := os.WriteFile(configReferencePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(configReferencePath)
	if err != nil || !bytes.Equal(have, want) {
		t.Fatalf("docs/configuration.md is missing or stale (%v); regenerate it:\n  go test ./cmd/presign -run TestConfigurationReferenceIsCurrent -update-config-reference", err)
	}
}
