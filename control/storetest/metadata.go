package storetest

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"presign/control"
)

var metadataTests = []test{
	{"MetadataIsKeptOnTheUploadAndItsFile", func(t *testing.T, e *env) {
		u := e.user("alice")
		meta := map[string]string{"album": "Été 2030 🎉", "relativePath": "", "caption": `a "quoted" <b>`, "x-y_z.1": strings.Repeat("v", 500)}
		up := e.newUpload(u.ID, 10)
		up.Metadata = maps.Clone(meta)
		wantErr(t, "CreateUpload", e.s.CreateUpload(e.ctx, up, control.Limits{}), nil)
		got, err := e.open().Upload(e.ctx, up.ID)
		wantErr(t, "Upload", err, nil)
		if !maps.Equal(got.Metadata, meta) {
			t.Fatalf("upload metadata read back %q, want %q", got.Metadata, meta)
		}
		done, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateCompleted,
			control.Change{At: at(time.Minute), ETag: "e"})
		wantErr(t, "complete", err, nil)
		if !maps.Equal(done.Metadata, meta) {
			t.Fatalf("completed upload metadata %q, want %q", done.Metadata, meta)
		}
		f, err := e.open().File(e.ctx, up.ID)
		wantErr(t, "File", err, nil)
		if !maps.Equal(f.Metadata, meta) {
			t.Fatalf("file metadata %q, want %q", f.Metadata, meta)
		}
		page, err := e.s.ListFiles(e.ctx, u.ID, "", 10)
		wantErr(t, "ListFiles", err, nil)
		if len(page.Files) != 1 || !maps.Equal(page.Files[0].Metadata, meta) {
			t.Fatalf("listed files %+v, want one with metadata %q", page.Files, meta)
		}
	}},
	{"UploadWithoutMetadataReadsBackNone", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.upload(u.ID, 10)
		e.complete(up.ID, at(time.Minute))
		got, err := e.s.Upload(e.ctx, up.ID)
		wantErr(t, "Upload", err, nil)
		f, err := e.s.File(e.ctx, up.ID)
		wantErr(t, "File", err, nil)
		if got.Metadata != nil || f.Metadata != nil {
			t.Fatalf("metadata of an upload without any: upload %q, file %q; want nil", got.Metadata, f.Metadata)
		}
	}},
	{"CreateUploadRefusesMetadataOutsideTheRules", func(t *testing.T, e *env) {
		u := e.user("alice")
		many := map[string]string{}
		for i := range control.MaxMetadataEntries + 1 {
			many[strings.Repeat("k", i+1)] = "v"
		}
		for name, m := range map[string]map[string]string{
			"too many keys":  many,
			"empty key":      {"": "v"},
			"key with space": {"a b": "v"},
			"key too long":   {strings.Repeat("k", control.MaxMetadataKeyLen+1): "v"},
			"control char":   {"k": "a\nb"},
			"bidi override":  {"k": "invoice\u202Etxt.exe"},
			"invalid UTF-8":  {"k": "\xff"},
			"too many bytes": {"a": strings.Repeat("v", control.MaxMetadataBytes)},
		} {
			up := e.newUpload(u.ID, 10)
			up.Metadata = m
			if err := e.s.CreateUpload(e.ctx, up, control.Limits{}); !errors.Is(err, control.ErrInvalid) {
				t.Errorf("%s: CreateUpload = %v, want ErrInvalid", name, err)
			}
			if _, err := e.s.Upload(e.ctx, up.ID); !errors.Is(err, control.ErrNotFound) {
				t.Errorf("%s: the refused upload was recorded (%v)", name, err)
			}
		}
		e.wantUsage(u.ID, control.Usage{})
	}},
}
