package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestServeDefaultsAreLoopbackPortsAndPresignDataWithControlDB pins what "presign serve" does
// with no flags, as its own FlagSet parses them (from "serve -h", which stops before anything
// is bound): the control plane on 127.0.0.1:8080, the storage node on 127.0.0.1:9000, the
// data in ./presign-data, and — --db having no value of its own — the SQLite metadata store
// in control.db inside that data directory.
func TestServeDefaultsAreLoopbackPortsAndPresignDataWithControlDB(t *testing.T) {
	defaults := map[string]string{}
	for _, f := range commandFlags(t, "serve") {
		defaults[f.name] = f.def
	}
	for name, want := range map[string]string{
		"addr":         "127.0.0.1:8080",
		"storage-addr": "127.0.0.1:9000",
		"data":         "./presign-data",
		"db":           "",
		"bucket":       "presign",
		"events":       "true",
	} {
		got, ok := defaults[name]
		if !ok {
			t.Errorf("serve has no --%s flag", name)
		} else if got != want {
			t.Errorf("serve --%s defaults to %q, want %q", name, got, want)
		}
	}

	// The default --db, resolved against the default --data from the working directory.
	t.Chdir(t.TempDir())
	store, err := openStore(context.Background(), defaults["db"], defaults["data"])
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := os.Stat(filepath.Join("presign-data", "control.db"))
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("the default metadata store is not ./presign-data/control.db: %v", err)
	}
}
