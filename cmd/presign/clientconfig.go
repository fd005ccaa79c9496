package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"presign/client"
)

// Exit codes of the client commands, for scripts (docs/clients.md lists them).
const (
	exitFailure     = 1   // anything else: network, server fault, a local file that cannot be read or written
	exitUsage       = 2   // bad command line
	exitAuth        = 3   // not logged in, wrong credentials, session expired or revoked, account disabled
	exitNotFound    = 4   // no such file: the id on the server, or the local file to upload
	exitRefused     = 5   // refused by policy: size, type, quota, pending uploads, rate, URL lifetime
	exitInterrupted = 130 // Ctrl-C (or SIGTERM); an upload stopped this way resumes when run again
)

// clientConfig is what "presign login" keeps in the config dir: where the control plane is,
// and the session token (the file is 0600).
type clientConfig struct {
	URL      string    `json:"url"`
	Username string    `json:"username,omitempty"`
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires_at,omitzero"`
}

const configFile = "config.json"

// configDir is $PRESIGN_CONFIG_DIR, else the user's config dir + /presign.
func (m *Main) configDir() (string, error) {
	if d := m.Getenv("PRESIGN_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config dir (set PRESIGN_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "presign"), nil
}

func (m *Main) loadConfig() (*clientConfig, error) {
	dir, err := m.configDir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &clientConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c clientConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is damaged (log in again to rewrite it): %w", filepath.Join(dir, configFile), err)
	}
	return &c, nil
}

func (m *Main) saveConfig(c *clientConfig) error {
	dir, err := m.configDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, configFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// session returns a client of the logged-in control plane: $PRESIGN_TOKEN (an API key or a
// session token) with $PRESIGN_URL when set, else the config written by "presign login".
func (m *Main) session() (*client.Client, error) {
	cfg, err := m.loadConfig()
	if err != nil {
		return nil, err
	}
	base, token := cfg.URL, cfg.Token
	if u := m.Getenv("PRESIGN_URL"); u != "" {
		base = u
	}
	if t := m.Getenv("PRESIGN_TOKEN"); t != "" {
		token = t
	}
	if base == "" || token == "" {
		return nil, &exitError{code: exitAuth, msg: "not logged in: run presign login URL --username NAME (or set PRESIGN_URL and PRESIGN_TOKEN)"}
	}
	return client.New(base, &client.Options{Token: token, UserAgent: "presign-cli/" + version})
}

// clientFailure turns an error of a client command into its exit code and message.
func clientFailure(ctx context.Context, err error) error {
	var ee *exitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case ctx.Err() != nil:
		return &exitError{code: exitInterrupted, msg: "interrupted"}
	case client.IsUnauthenticated(err):
		return &exitError{code: exitAuth, msg: err.Error() + " (log in again: presign login URL --username NAME)"}
	case client.IsNotFound(err), errors.Is(err, fs.ErrNotExist):
		return &exitError{code: exitNotFound, msg: err.Error()}
	case client.IsRefused(err):
		return &exitError{code: exitRefused, msg: err.Error()}
	}
	return &exitError{code: exitFailure, msg: err.Error()}
}

// worst keeps the exit code of the first failure of a command that goes on after one.
func worst(prev, err error) error {
	if prev != nil {
		return prev
	}
	return err
}

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// parseInterspersed parses flags that may come before, between or after the positional
// arguments ("presign get ID -o file"), and returns the positional ones. Everything after
// "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: exitUsage}
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// terminal reports whether w is a terminal.
func terminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// humanBytes writes n in binary units with three significant digits.
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %ciB", v, units[i])
	case v >= 10:
		return fmt.Sprintf("%.1f %ciB", v, units[i])
	}
	return fmt.Sprintf("%.2f %ciB", v, units[i])
}

// oneLine trims a line read from a pipe of its line ending.
func oneLine(s string) string {
	return strings.TrimRight(s, "\r\n")
}
