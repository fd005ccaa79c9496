package storage_test

import (
	"os/exec"
	"strings"
	"testing"

	"presign/internal/testenv"
)

// TestStorageSideImportsNoOutboxNorControl: the storage node's face and its shared store
// import neither the event outbox's dependencies (bbolt, Prometheus), which would make every
// importer carry them, nor the control plane, which the storage node only meets over the
// network.
func TestStorageSideImportsNoOutboxNorControl(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "no go tool to list the imports: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "presign/storage", "presign/storage/redisstore").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, banned := range []string{"go.etcd.io/bbolt", "github.com/prometheus/", "presign/events/outbox", "presign/control"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("presign/storage or presign/storage/redisstore depends on %s", dep)
			}
		}
	}
}
