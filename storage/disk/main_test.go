package disk

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The crash tests re-run this binary as the processes they kill.
	if dir := os.Getenv(crashChildEnv); dir != "" {
		switch os.Getenv(crashModeEnv) {
		case "churn":
			os.Exit(runChurnChild(dir, os.Getenv(crashRoundEnv)))
		case "compact":
			os.Exit(runCompactChild(dir))
		default:
			os.Exit(runCrashChild(dir, os.Getenv(crashRoundEnv)))
		}
	}
	os.Exit(m.Run())
}
