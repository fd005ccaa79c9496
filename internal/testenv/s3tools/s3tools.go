// Package s3tools finds the S3 command-line clients that the client tests drive: those Debian
// packages (rclone, s3cmd, the aws CLI, python3-boto3) on the PATH, and those built from the
// Go module proxy by scripts/build-s3tools.sh (mc, s5cmd) in its cache, ~/.cache/presign/ (or
// $XDG_CACHE_HOME/presign/). PRESIGN_MC and PRESIGN_S5CMD name other binaries.
//
// A missing tool skips the test on a developer's machine and fails it under CI=true (see
// testenv.Missing), where .ci/run has installed and built them all.
package s3tools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"presign/internal/testenv"
)

// Python is Debian's interpreter, which has python3-boto3; another Python on the PATH may not.
const Python = "/usr/bin/python3"

// Debian returns the path of a command Debian packages (rclone, s3cmd, aws, curl), or ends t.
// The aws CLI is looked up in /usr/bin first, so that Debian's is used where another is
// earlier on the PATH.
func Debian(t testing.TB, name string) string {
	t.Helper()
	if p := filepath.Join("/usr/bin", name); isExecutable(p) {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, "%s is not installed (a Debian package; .ci/run installs it)", name)
	}
	return p
}

// Boto3 returns the Python that has boto3, or ends t.
func Boto3(t testing.TB) string {
	t.Helper()
	if err := exec.Command(Python, "-c", "import boto3").Run(); err != nil {
		testenv.Missing(t, "%s cannot import boto3 (Debian: python3-boto3): %v", Python, err)
	}
	return Python
}

// Built returns the path of a tool scripts/build-s3tools.sh builds ("mc" or "s5cmd"), or ends t.
func Built(t testing.TB, name string) string {
	t.Helper()
	p, err := builtPath(name)
	if err != nil {
		testenv.Missing(t, "%s not available (%v); run scripts/build-s3tools.sh", name, err)
	}
	return p
}

var envNames = map[string]string{"mc": "PRESIGN_MC", "s5cmd": "PRESIGN_S5CMD"}

func builtPath(name string) (string, error) {
	env, ok := envNames[name]
	if !ok {
		return "", fmt.Errorf("scripts/build-s3tools.sh builds no %q", name)
	}
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "..", "scripts", "build-s3tools.sh")
	text, err := os.ReadFile(script)
	if err != nil {
		return "", fmt.Errorf("reading the build script for the version: %w", err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `_version="([^"]+)"`).FindSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("no %s_version in %s", name, script)
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "presign", name+"-"+string(m[1]))
	if !isExecutable(p) {
		return "", fmt.Errorf("%s is not built (%s)", name, p)
	}
	return p, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
