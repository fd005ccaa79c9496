package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"presign/client"
)

// upload: presign upload [flags] FILE... — prints each new file's id on stdout, in order.
func (m *Main) upload(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	contentType := fs.String("type", "", "content type of the files (default: from each name's extension)")
	name := fs.String("name", "", "the name to record (one file only; default: the file's base name)")
	parallel := fs.Int("parallel", 4, "parts of a large file sent at once")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	noChecksums := fs.Bool("no-checksums", false, "send no checksums (part CRC-32C or Content-MD5, file SHA-256): the store then cannot verify the bytes")
	meta := metaFlag{}
	fs.Var(meta, "meta", "KEY=VALUE metadata kept on each file and sent in its upload.completed event (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: presign upload [flags] FILE...

Uploads each file straight to the object store and prints its new id on stdout, one line
per file uploaded, in order. Progress goes to stderr: a bar per file on a terminal, plain
lines otherwise. A large file goes in parts, in parallel; if the upload is interrupted
(Ctrl-C, a crash, a lost network), running the same command again resumes it and sends only
the parts the store does not have yet.

Flags:
`)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(files) == 0:
		fs.Usage()
		return usageErr("upload needs at least one FILE")
	case *name != "" && len(files) > 1:
		return usageErr("--name is for a single file")
	case *parallel < 1 || *parallel > 64:
		return usageErr("--parallel must be 1 to 64")
	}
	c, err := m.session()
	if err != nil {
		return err
	}
	dir, err := m.configDir()
	if err != nil {
		return err
	}
	ui := m.newProgressUI(*quiet)
	// Beside bars on the same terminal, ids wait for the bars to finish; otherwise each goes
	// out as soon as its file is complete.
	var ids []string
	var failed error
	for _, path := range files {
		if ctx.Err() != nil {
			break
		}
		f, err := m.uploadOne(ctx, c, ui, path, &client.UploadOptions{ContentType: *contentType, Name: *name,
			Concurrency: *parallel, NoChecksums: *noChecksums, Metadata: meta, StateDir: filepath.Join(dir, "uploads")})
		if err != nil {
			failed = worst(failed, clientFailure(ctx, err))
			if ctx.Err() != nil {
				ui.Printf("presign: %s: interrupted; run the same command again to resume", path)
			} else {
				ui.Printf("presign: %s: %v", path, err)
			}
			continue
		}
		if ui.bars != nil {
			ids = append(ids, f.ID)
		} else {
			fmt.Fprintln(m.Stdout, f.ID)
		}
	}
	ui.Wait()
	for _, id := range ids {
		fmt.Fprintln(m.Stdout, id)
	}
	var ee *exitError
	if errors.As(failed, &ee) && ee.code != exitInterrupted {
		ee.msg = "" // already said, file by file
	}
	return failed
}

func (m *Main) uploadOne(ctx context.Context, c *client.Client, ui *progressUI, path string, o *client.UploadOptions) (*client.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	label := o.Name
	if label == "" {
		label = filepath.Base(path)
	}
	tr := ui.Add("upload", label, st.Size())
	o.Progress = tr.Update
	o.Started = func(s client.Start) {
		if s.Resumed {
			ui.Printf("upload %s: resuming upload %s: %d of %d parts already in the store", label, s.UploadID, s.StoredParts, s.PartCount)
		}
	}
	f, err := c.UploadFile(ctx, path, o)
	if err == nil {
		err = verified(ctx, c, f.ID)
	}
	if err != nil {
		tr.Fail()
		return nil, err
	}
	tr.Done()
	return f, nil
}

// verifyWait is how long upload waits for the control plane to say an upload is completed.
const verifyWait = 2 * time.Minute

// verified waits until the control plane says the upload is completed (the SDK's complete call
// has normally made it so already; the storage event or another client may be the one that
// does): the file id is printed only then. A failed or expired upload, or one not completed
// within verifyWait, is an error.
func verified(ctx context.Context, c *client.Client, id string) error {
	deadline := time.Now().Add(verifyWait)
	for {
		u, err := c.WaitUpload(ctx, id, min(client.MaxUploadWait, time.Until(deadline)))
		if err != nil {
			return fmt.Errorf("waiting for the control plane to verify upload %s: %w", id, err)
		}
		switch u.State {
		case "completed":
			return nil
		case "pending", "uploading":
			if time.Now().After(deadline) {
				return fmt.Errorf("upload %s: the control plane has not verified it after %v", id, verifyWait)
			}
		default:
			return fmt.Errorf("upload %s %s: %s", id, u.State, u.FailReason)
		}
	}
}
