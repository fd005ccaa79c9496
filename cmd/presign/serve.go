package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var sf storageFlags
	sf.register(fs, "storage-addr")
	var drain time.Duration
	fs.DurationVar(&drain, "shutdown-timeout", time.Minute, "how long SIGTERM waits for requests in flight")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: presign serve [flags]\n\nRuns the control plane and the storage node on this machine, with embedded defaults.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := m.logger()
	node, err := m.openStorage(ctx, sf, log)
	if err != nil {
		return err
	}
	defer node.close()
	log.Warn("the control plane is not built yet; serving the storage node only")
	return serveHTTP(ctx, log, drain, node.listener("storage node", sf.addr, m.registry))
}
