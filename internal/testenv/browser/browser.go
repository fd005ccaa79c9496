// Package browser finds what the real-browser tests need: Debian's headless Chromium, Node, and
// a test's own Node driver directory with playwright-core installed (.ci/run installs all of
// them).
package browser

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"presign/internal/testenv"
)

// Chromium is where Debian's chromium package puts the browser.
const Chromium = "/usr/bin/chromium"

// Require returns the absolute path of driverDir (a directory with a package.json that depends
// on playwright-core), or ends the test when something is missing: a failure under CI=true,
// where .ci/run has installed everything, a skip elsewhere.
func Require(t testing.TB, driverDir string) string {
	t.Helper()
	dir, err := filepath.Abs(driverDir)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := os.Stat(Chromium); err != nil {
		missing = append(missing, Chromium+" (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "playwright-core (npm ci in "+dir+")")
	}
	if len(missing) > 0 {
		testenv.Missing(t, "this browser test needs %s", strings.Join(missing, ", "))
	}
	return dir
}
