package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"
)

// ls: presign ls [--json] — the caller's files, newest first.
func (m *Main) ls(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	asJSON := fs.Bool("json", false, "one JSON object per file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: presign ls [--json]

Lists your files, newest first. On a terminal: a table with sizes in binary units. Otherwise
one line per file, tab-separated, no header: ID, SIZE in bytes, CREATED (RFC 3339), NAME.

Flags:
`)
		fs.PrintDefaults()
	}
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return usageErr("ls takes no arguments")
	}
	c, err := m.session()
	if err != nil {
		return err
	}
	tty := terminal(m.Stdout)
	tw := tabwriter.NewWriter(m.Stdout, 0, 8, 2, ' ', 0)
	if tty && !*asJSON {
		fmt.Fprintln(tw, "ID\tSIZE\tCREATED\tNAME")
	}
	enc := json.NewEncoder(m.Stdout)
	for f, err := range c.Files(ctx) {
		if err != nil {
			tw.Flush()
			return clientFailure(ctx, err)
		}
		switch {
		case *asJSON:
			enc.Encode(f)
		case tty:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.ID, humanBytes(f.Size), f.Created.Local().Format(time.DateTime), f.Filename)
		default:
			fmt.Fprintf(m.Stdout, "%s\t%d\t%s\t%s\n", f.ID, f.Size, f.Created.UTC().Format(time.RFC3339), f.Filename)
		}
	}
	return tw.Flush()
}
