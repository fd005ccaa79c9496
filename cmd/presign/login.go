package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"presign/client"
)

// login: presign login URL --username NAME [--password-stdin]
func (m *Main) login(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	username := fs.String("username", "", "the account to log in as (asked for on a terminal when missing)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of asking")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: presign login URL --username NAME [--password-stdin]

Logs in to the control plane at URL and keeps the session token in the config dir
($PRESIGN_CONFIG_DIR, else the user's config dir + /presign; the file is mode 0600).
The password is asked for on the terminal, or read from standard input with --password-stdin.

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
		return usageErr("login takes the control plane's URL, e.g. presign login http://127.0.0.1:8080 --username alice")
	}
	c, err := client.New(pos[0], &client.Options{UserAgent: "presign-cli/" + version})
	if err != nil {
		return usageErr("%v", err)
	}
	stdin := bufio.NewReader(m.Stdin)
	if *username == "" {
		if !terminal(m.Stdin) || *passwordStdin {
			return usageErr("login needs --username NAME")
		}
		fmt.Fprint(m.Stderr, "Username: ")
		line, err := stdin.ReadString('\n')
		if err != nil && line == "" {
			return usageErr("login needs --username NAME")
		}
		*username = strings.TrimSpace(line)
	}
	password, err := m.readPassword(stdin, *passwordStdin)
	if err != nil {
		return err
	}
	s, err := c.Login(ctx, *username, password)
	if err != nil {
		return clientFailure(ctx, err)
	}
	if err := m.saveConfig(&clientConfig{URL: c.BaseURL(), Username: *username, Token: s.Token, Expires: s.Expires}); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "Logged in to %s as %s (the session lasts until %s).\n", c.BaseURL(), *username,
		s.Expires.Local().Format(time.DateTime))
	return nil
}

// readPassword reads the first line of standard input with --password-stdin, else asks on
// the terminal without echo.
func (m *Main) readPassword(stdin *bufio.Reader, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := stdin.ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if line = oneLine(line); line == "" {
			return "", usageErr("--password-stdin: standard input has no password")
		}
		return line, nil
	}
	f, ok := m.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageErr("no terminal to ask the password on: pipe it with --password-stdin")
	}
	fmt.Fprint(m.Stderr, "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(m.Stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}

// logout: presign logout — revokes the session and forgets it.
func (m *Main) logout(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("logout", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: presign logout\n\nRevokes the session token kept by presign login and removes it from the config.")
	}
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return usageErr("logout takes no arguments")
	}
	cfg, err := m.loadConfig()
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		fmt.Fprintln(m.Stderr, "Not logged in.")
		return nil
	}
	c, err := client.New(cfg.URL, &client.Options{Token: cfg.Token, UserAgent: "presign-cli/" + version})
	if err == nil {
		err = c.Logout(ctx)
	}
	if err != nil && !client.IsUnauthenticated(err) {
		return clientFailure(ctx, err)
	}
	cfg.Token, cfg.Expires = "", time.Time{}
	if err := m.saveConfig(cfg); err != nil {
		return err
	}
	fmt.Fprintln(m.Stderr, "Logged out.")
	return nil
}
