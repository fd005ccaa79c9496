package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// recorder is a Tx that keeps what Apply asked of it, in memory.
type recorder struct {
	version int
	applied []string // "<version>:<sql>"
	fail    int      // the version whose Apply fails; 0 for none
}

func (r *recorder) Version(context.Context) (int, error) { return r.version, nil }

func (r *recorder) Apply(_ context.Context, v int, sql string) error {
	if v == r.fail {
		return errors.New("syntax error")
	}
	r.applied = append(r.applied, fmt.Sprintf("%d:%s", v, sql))
	r.version = v
	return nil
}

func TestApplyRunsNewerMigrationsInVersionOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql":  {Data: []byte("B")},
		"m/0001_a.sql":  {Data: []byte("A")},
		"m/0010_c.sql":  {Data: []byte("C")}, // after 0002 by number, not only by name
		"m/README.md":   {Data: []byte("not a migration")},
		"other/0003.sq": {Data: []byte("elsewhere")},
	}
	for _, tc := range []struct {
		name string
		have int
		want []string
	}{
		{"empty database", 0, []string{"1:A", "2:B", "10:C"}},
		{"up to 2 applied", 2, []string{"10:C"}},
		{"all applied", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{version: tc.have}
			if err := Apply(t.Context(), r, fsys, "m"); err != nil {
				t.Fatal(err)
			}
			if strings.Join(r.applied, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("applied %q, want %q", r.applied, tc.want)
			}
		})
	}
}

func TestApplyRefusesBadSetsBeforeRunningAny(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"no version", fstest.MapFS{"m/0001_a.sql": {}, "m/init.sql": {}}, "m/init.sql: name must start with a positive version"},
		{"version zero", fstest.MapFS{"m/0000_a.sql": {}}, "m/0000_a.sql: name must start with a positive version"},
		{"no underscore", fstest.MapFS{"m/0001.sql": {}}, "m/0001.sql: name must start"},
		{"shared version", fstest.MapFS{"m/0001_a.sql": {}, "m/001_b.sql": {}}, "share version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			err := Apply(t.Context(), r, tc.files, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.want)
			}
			if len(r.applied) != 0 {
				t.Fatalf("applied %q before refusing", r.applied)
			}
		})
	}
}

func TestApplyNamesTheFailingMigrationAndStops(t *testing.T) {
	fsys := fstest.MapFS{"m/0001_a.sql": {Data: []byte("A")}, "m/0002_b.sql": {Data: []byte("B")}, "m/0003_c.sql": {Data: []byte("C")}}
	r := &recorder{fail: 2}
	err := Apply(t.Context(), r, fsys, "m")
	if err == nil || !strings.HasPrefix(err.Error(), "m/0002_b.sql: syntax error") {
		t.Fatalf("Apply: %v, want the failing file named", err)
	}
	if strings.Join(r.applied, ",") != "1:A" {
		t.Fatalf("applied %q, want only 0001 before the failure", r.applied)
	}
}
