package sigv2

import (
	"testing"
	"time"
)

// CheckVectors checks the output of testdata/gen_vectors.py (a client's vectors, as JSON) at
// time now, for the live tests of package sigv2_test. It returns the generator's name.
func CheckVectors(t *testing.T, output []byte, now time.Time) string {
	f := parseVectors(t, output)
	if len(f.Vectors) == 0 {
		t.Fatal("the generator made no vectors")
	}
	checkVectors(t, f, now)
	return f.Generator
}
