package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// rm: presign rm ID... — deletes files; goes on after an id that fails.
func (m *Main) rm(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: presign rm ID...\n\nDeletes your files with these ids from the store and from the records.")
	}
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fs.Usage()
		return usageErr("rm needs at least one ID")
	}
	c, err := m.session()
	if err != nil {
		return err
	}
	var failed error
	for _, id := range ids {
		if err := c.Delete(ctx, id); err != nil {
			fail := clientFailure(ctx, err)
			fmt.Fprintf(m.Stderr, "presign: %s: %v\n", id, fail)
			failed = worst(failed, fail)
			if ctx.Err() != nil {
				break
			}
		}
	}
	var ee *exitError
	if errors.As(failed, &ee) {
		ee.msg = ""
	}
	return failed
}
