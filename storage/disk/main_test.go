package disk

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The crash test re-runs this binary as the process it kills.
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(runCrashChild(dir, os.Getenv(crashRoundEnv)))
	}
	os.Exit(m.Run())
}
