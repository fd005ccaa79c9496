// Command fsyncsink is the baseline the storage benchmarks measure a node against: about the
// least an HTTP server can do and still keep objects durably. A PUT streams its body into a
// temporary file, fsyncs it and renames it into place before answering 200; a GET or HEAD
// serves the file back (sendfile); DELETE removes it. It checks no signature, hashes nothing
// and keeps no index, so whatever a real node does beyond it (authentication, checksums,
// metadata, events) shows as the node's ratio to fsyncsink, measured in the same run with the
// same client. Start reading at sink.go.
//
//	go run ./bench/fsyncsink -addr 127.0.0.1:9700 -dir /tmp/sink
//
// It logs "fsyncsink listening url=..." once it accepts connections (-addr 127.0.0.1:0 picks
// a free port) and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("fsyncsink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9700", "listen address")
	dir := fs.String("dir", "", "where objects are kept (default: a new temporary directory, removed at exit)")
	fsync := fs.Bool("fsync", true, "fsync each object before answering its PUT, as a durable store must")
	fsyncDir := fs.Bool("fsync-dir", false, "also fsync the directory after the rename, so that the object's name is durable too")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fsyncsink: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(*addr, *dir, *fsync, *fsyncDir, log); err != nil {
		log.Error("fsyncsink", "err", err)
		return 1
	}
	return 0
}

// serve runs a sink on addr until SIGINT or SIGTERM.
func serve(addr, dir string, fsync, fsyncDir bool, log *slog.Logger) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "fsyncsink-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s := newSink(dir, fsync, fsyncDir)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("fsyncsink listening", "url", "http://"+ln.Addr().String(), "dir", dir, "fsync", s.sync, "fsync_dir", s.syncDir)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
