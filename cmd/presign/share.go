package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// share: presign share ID [--ttl 10m] — prints a presigned GET URL of the file.
func (m *Main) share(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("share", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	ttl := fs.Duration("ttl", 0, "how long the URL works, e.g. 10m or 2h (default and maximum: your policy's URL lifetime, 15m unless changed)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: presign share ID [--ttl 10m]

Prints a URL anyone can download the file with (curl, a browser) until it expires. The
expiry goes to stderr.

Flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErr("share takes one ID")
	}
	if *ttl < 0 || (*ttl > 0 && *ttl < time.Second) {
		return usageErr("--ttl must be at least 1s")
	}
	c, err := m.session()
	if err != nil {
		return err
	}
	l, err := c.Share(ctx, pos[0], *ttl)
	if err != nil {
		return clientFailure(ctx, err)
	}
	fmt.Fprintln(m.Stdout, l.URL)
	fmt.Fprintf(m.Stderr, "The URL works until %s.\n", l.Expires.Local().Format(time.DateTime+" MST"))
	return nil
}
