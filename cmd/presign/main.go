// Command presign is the one binary of the presign system: the storage node, the control plane,
// both together, and the client commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, registry: reg}
	err := m.Run(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "presign:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "presign:", err)
		os.Exit(1)
	}
}

// Main holds the process's outside world, so that commands can be run and tested in-process.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// registry collects the process's Prometheus metrics.
	registry *prometheus.Registry
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

const usage = `presign: pre-signed URL uploads and downloads, control plane and storage node in one binary.

Usage:
  presign serve     run the control plane and the storage node together (the default setup)
  presign storage   run the storage node alone (S3 API on local disk)
  presign control   run the control plane alone, against any S3-compatible storage
  presign version   print the version

Client commands:
  presign login URL --username NAME [--password-stdin]   log in, keep the session token
  presign logout                     revoke the session and forget it
  presign upload FILE...             upload files (ids on stdout; resumes an interrupted upload)
  presign ls                         list your files
  presign get ID [-o PATH]           download a file (resumes an interrupted download)
  presign rm ID...                   delete files
  presign share ID [--ttl 10m]       print a download URL that works for anyone until it expires

Exit codes of the client commands: 0 ok, 1 error, 2 usage, 3 not logged in or bad
credentials, 4 not found, 5 refused by policy, 130 interrupted.

Run "presign COMMAND -h" for a command's flags.
`

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return &exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return m.serve(ctx, rest)
	case "storage":
		return m.storage(ctx, rest)
	case "control":
		return m.control(ctx, rest)
	case "login":
		return m.login(ctx, rest)
	case "logout":
		return m.logout(ctx, rest)
	case "upload":
		return m.upload(ctx, rest)
	case "ls":
		return m.ls(ctx, rest)
	case "get":
		return m.get(ctx, rest)
	case "rm":
		return m.rm(ctx, rest)
	case "share":
		return m.share(ctx, rest)
	case "version":
		fmt.Fprintln(m.Stdout, "presign", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprint(m.Stderr, usage)
	return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q", cmd)}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
