package storagetest

import (
	"testing"

	"presign/storage"
)

// PartSizeEnforcer is an optional capability of a Multiparter that applies S3's 5 MiB
// minimum to every part but the last whatever CompleteOptions.MinPartSize says: a gateway to
// an S3 service, which enforces the rule itself. The multipart tests that complete uploads of
// smaller parts (with MinPartSize lowered to keep them fast) are skipped for such a backend,
// which must test those behaviours with parts of S3's sizes itself; the rule is still tested
// (FiveMiBMinimumExceptLastPart).
type PartSizeEnforcer interface {
	EnforcesMinPartSize() bool
}

// needsSmallParts skips t for a backend that cannot complete uploads of parts under 5 MiB.
func needsSmallParts(t *testing.T, be storage.Backend) {
	t.Helper()
	if pe, ok := be.(PartSizeEnforcer); ok && pe.EnforcesMinPartSize() {
		t.Skip("the backend completes no upload with parts but the last under 5 MiB")
	}
}
