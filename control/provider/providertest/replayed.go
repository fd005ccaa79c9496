package providertest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/client"
	"presign/control"
)

// added are headers an upload's sender adds that no ticket signs and that a store which kept
// them would replay on every download: a year in every shared cache, whatever deletion or
// revocation says later, and a gzip encoding every client undoes. Bodies sent with
// Content-Encoding: gzip are gzip, as whoever wants the header honoured sends them.
var added = []struct {
	name, value string
	gzip        bool
}{
	{"Cache-Control", "public, max-age=31536000", false},
	{"Content-Encoding", "gzip", true},
}

// addedBody is a body to send with a header of added.
func addedBody(t *testing.T, gzipped bool) []byte {
	data := random(t, 700)
	if !gzipped {
		return data
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// replayed is what Head reports of the stored header name.
func replayed(info control.ObjectInfo, name string) string {
	switch name {
	case "Cache-Control":
		return info.Replayed.CacheControl
	case "Content-Encoding":
		return info.Replayed.ContentEncoding
	}
	panic("providertest: no stored header " + name)
}

// addedHeaderTests are the contract's tests of headers an upload adds outside its signature.
func addedHeaderTests(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("HeaderAddedToThePUTIsNeverReplayed", func(t *testing.T) { addedToPut(t, newTarget(t)) })
	t.Run("FieldAddedToTheFormIsNeverReplayed", func(t *testing.T) { addedToForm(t, newTarget(t)) })
}

// addedToPut sends a single upload with its ticket's headers and one more, under each name the
// store may take it by. An object that keeps it must fail at completion, with the header
// named, and be deleted; a store that drops it must complete the file without it.
func addedToPut(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	for _, h := range added {
		names := map[string]bool{h.name: tg.StoresAddedHeaders}
		if tg.StoredHeaderPrefix != "" {
			names[tg.StoredHeaderPrefix+strings.ToLower(h.name)] = true
		}
		for name, stored := range names {
			t.Run(name, func(t *testing.T) {
				data := addedBody(t, h.gzip)
				tk, err := e.c.NewTicket(context.Background(), client.TicketRequest{Filename: "added.txt", Size: int64(len(data)), ContentType: "text/plain"})
				if err != nil {
					t.Fatal(err)
				}
				hdr := map[string]string{name: h.value}
				for k, v := range tk.Headers {
					hdr[k] = v
				}
				if code := put(t, tk.Method, tk.URL, hdr, data); code/100 != 2 {
					t.Fatalf("the upload with %s answered %d", name, code)
				}
				mustNotReplay(t, e, stored, tk, h.name, h.value)
			})
		}
	}
}

// addedToForm posts a form upload with one more field for each header, where the provider
// signs forms (GCS; S3's forms are held to their policy by presign's node, and Azure takes
// none).
func addedToForm(t *testing.T, tg Target) {
	if _, ok := tg.Objects.(control.FormSigner); !ok {
		t.Skip("the provider signs no forms")
	}
	e := newEnv(t, tg)
	for _, h := range added {
		t.Run(h.name, func(t *testing.T) {
			data := addedBody(t, h.gzip)
			tk, err := e.c.NewTicket(context.Background(), client.TicketRequest{Filename: "added.txt", Size: int64(len(data)), ContentType: "text/plain", Form: true})
			if err != nil {
				t.Fatal(err)
			}
			fields := map[string]string{h.name: h.value}
			for k, v := range tk.Fields {
				fields[k] = v
			}
			if code := postForm(t, tk.URL, fields, data); code/100 != 2 {
				t.Fatalf("the form with %s answered %d", h.name, code)
			}
			mustNotReplay(t, e, tg.StoresAddedHeaders, tk, h.name, h.value)
		})
	}
}

// mustNotReplay completes the upload of tk, whose sender added the header name, and checks the
// outcome: when the store keeps the header (stored), a mismatch and no object; when it drops
// it, a file whose object and downloads carry no such header.
func mustNotReplay(t *testing.T, e *env, stored bool, tk *client.Ticket, name, value string) {
	t.Helper()
	ctx := context.Background()
	f, err := e.c.Complete(ctx, tk.ID, nil)
	if stored {
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || ae.Code != "object_mismatch" ||
			!strings.Contains(ae.Message, "stored "+name+` "`+value+`"`) {
			t.Fatalf("completion of an object that keeps %s: %v, want 422 object_mismatch naming it", name, err)
		}
		if _, err := e.obj.Head(ctx, tk.Key); !errors.Is(err, control.ErrNoObject) {
			t.Fatalf("an object that keeps %s is left under the key: Head = %v", name, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("the store drops an unsigned %s, yet completion failed: %v", name, err)
	}
	info, err := e.obj.Head(ctx, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := replayed(info, name); got != "" {
		t.Fatalf("the store kept the unsigned %s %q", name, got)
	}
	link, err := e.c.Share(ctx, f.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, link.URL, nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get(name); got == value {
		t.Fatalf("a download replays the unsigned %s %q", name, got)
	}
}
