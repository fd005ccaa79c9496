package storage_test

import (
	"bytes"
	"net/http"
	"testing"

	"presign/storage"
)

// TestPostFormWithOnceFieldWorksOnce: a form carrying x-presign-once (signed by its policy)
// stores once; a failed attempt gives the nonce back, a successful one keeps it used.
func TestPostFormWithOnceFieldWorksOnce(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	f := n.signForm(t, "once.bin", 1, 8, map[string]string{"x-presign-once": "form-nonce-1"})
	post := func(file []byte) (int, string) {
		resp, body := postForm(t, n.URL+"/"+formBucket, sortedFields(f), "a.bin", file, nil)
		return resp.StatusCode, parseS3Error(body).Code
	}
	if st, code := post(bytes.Repeat([]byte("x"), 9)); st != http.StatusBadRequest || code != "EntityTooLarge" {
		t.Fatalf("oversized first attempt: %d %s", st, code)
	}
	if st, code := post([]byte("good")); st != http.StatusCreated && st != http.StatusNoContent && st != http.StatusOK {
		t.Fatalf("retry after a failed attempt: %d %s", st, code)
	}
	if st, code := post([]byte("again")); st != http.StatusForbidden || code != "AccessDenied" {
		t.Fatalf("second use: %d %s", st, code)
	}
	if _, data, err := n.stored(t, "once.bin"); err != nil || string(data) != "good" {
		t.Fatalf("stored %q, %v", data, err)
	}
}
