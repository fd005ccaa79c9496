package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"presign/internal/durable"
	"presign/sigv4"
)

// credentialsFile holds the storage node's root keys when they were generated, not given.
const credentialsFile = "credentials.json"

// rootCredentials returns the storage node's root keys: from PRESIGN_ACCESS_KEY and
// PRESIGN_SECRET_KEY when both are set; else from DIR/credentials.json; else new random keys,
// written there with mode 0600 and printed once on out (the only time a secret is printed).
func (m *Main) rootCredentials(dir string, out io.Writer) (sigv4.Credentials, error) {
	ak, sk := m.Getenv("PRESIGN_ACCESS_KEY"), m.Getenv("PRESIGN_SECRET_KEY")
	switch {
	case ak != "" && sk != "":
		return sigv4.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, nil
	case ak != "" || sk != "":
		return sigv4.Credentials{}, errors.New("set both PRESIGN_ACCESS_KEY and PRESIGN_SECRET_KEY, or neither")
	}
	path := filepath.Join(dir, credentialsFile)
	var c struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &c); err != nil || c.AccessKey == "" || c.SecretKey == "" {
			return sigv4.Credentials{}, fmt.Errorf("%s is damaged; remove it to generate new keys, or set PRESIGN_ACCESS_KEY and PRESIGN_SECRET_KEY", path)
		}
		return sigv4.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return sigv4.Credentials{}, fmt.Errorf("read credentials: %w", err)
	}
	c.AccessKey = "PS" + strings.ToUpper(rand.Text()[:18])
	c.SecretKey = rand.Text() + rand.Text()[:14]
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return sigv4.Credentials{}, fmt.Errorf("create data dir: %w", err)
	}
	b, _ = json.MarshalIndent(c, "", "  ")
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return sigv4.Credentials{}, fmt.Errorf("write credentials: %w", err)
	}
	fmt.Fprintf(out, "Generated root credentials for the storage node (kept in %s, shown only now):\n  PRESIGN_ACCESS_KEY=%s\n  PRESIGN_SECRET_KEY=%s\n", path, c.AccessKey, c.SecretKey)
	return sigv4.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}, nil
}

// writeFileAtomic writes a small file so that a crash leaves the old content or the new, never
// a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return durable.SyncParent(path)
}
