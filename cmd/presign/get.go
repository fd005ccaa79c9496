package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"presign/client"
)

// get: presign get ID [-o PATH] — downloads a file, resuming an interrupted download.
func (m *Main) get(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("get", flag.ContinueOnError)
	fset.SetOutput(m.Stderr)
	out := fset.String("o", "", "where to write the file: a path, a directory, or - for stdout (default: its name, in the current directory)")
	force := fset.Bool("force", false, "overwrite an existing file")
	quiet := fset.Bool("quiet", false, "no progress on stderr")
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), `Usage: presign get ID [-o PATH] [--force]

Downloads your file straight from the object store. The bytes go to PATH.ID.partial first and
are renamed into place once complete (and checked against the file's SHA-256 when it has
one); an interrupted download resumes from the partial file when run again. An existing PATH
is not overwritten without --force.

Flags:
`)
		fset.PrintDefaults()
	}
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fset.Usage()
		return usageErr("get takes one ID")
	}
	id := pos[0]
	c, err := m.session()
	if err != nil {
		return err
	}
	f, err := c.File(ctx, id)
	if err != nil {
		return clientFailure(ctx, err)
	}
	ui := m.newProgressUI(*quiet || *out == "-")
	tr := ui.Add("download", f.Filename, f.Size)
	opts := &client.DownloadOptions{Progress: tr.Update}
	if *out == "-" {
		_, err = c.DownloadTo(ctx, id, m.Stdout, opts)
	} else {
		path, perr := targetPath(*out, f.Filename)
		if perr != nil {
			return perr
		}
		if _, serr := os.Lstat(path); serr == nil && !*force {
			return &exitError{code: exitFailure, msg: path + " exists; use --force to overwrite it"}
		} else if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			return serr
		}
		_, err = c.DownloadFile(ctx, id, path, opts)
	}
	if err != nil {
		tr.Fail()
		ui.Wait()
		if ctx.Err() != nil && *out != "-" {
			return &exitError{code: exitInterrupted, msg: "interrupted; run the same command again to resume"}
		}
		return clientFailure(ctx, err)
	}
	tr.Done()
	ui.Wait()
	return nil
}

// targetPath is where get writes: -o as given, inside it when it is a directory, else the
// file's recorded name reduced to a plain base name in the current directory.
func targetPath(out, filename string) (string, error) {
	name := filepath.Base(strings.ReplaceAll(filename, `\`, "/"))
	if name == "." || name == ".." || name == "/" || name == "" {
		name = "download"
	}
	if out == "" {
		return name, nil
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return filepath.Join(out, name), nil
	}
	return out, nil
}
