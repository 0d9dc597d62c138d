package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// passwordEnv names the environment variable that holds the password of
// encrypted private keys; passwordFileEnv names a file that holds it.
// passwordEnv + "_" + NAME holds the password of one key (see
// passwordKeyEnv), and wins over both.
const (
	passwordEnv     = "BSI_KEY_PASSWORD"
	passwordFileEnv = "BSI_KEY_PASSWORD_FILE"
)

// maxPasswordFile bounds the size of a password file.
const maxPasswordFile = 4096

// errNoPassword is returned when a password is needed but none can be had.
var errNoPassword = errors.New("a password is needed but none of " + passwordEnv + "_<NAME>, " +
	passwordFileEnv + " and " + passwordEnv + " is set, and stdin is not a terminal")

// passwordKeyEnv returns the per-key variable for the key file ref:
// BSI_KEY_PASSWORD_ followed by the file's base name upper-cased, with
// every character but A-Z and 0-9 as "_". A key file whose name gives
// "FILE" has none: BSI_KEY_PASSWORD_FILE is the password file.
func passwordKeyEnv(ref string) string {
	base := []byte(strings.ToUpper(filepath.Base(ref)))
	for i, c := range base {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			base[i] = '_'
		}
	}
	name := passwordEnv + "_" + string(base)
	if name == passwordFileEnv {
		return ""
	}
	return name
}

// passwordSet reports whether any non-interactive source holds a password
// for the key file ref.
func passwordSet(e *env, ref string) (string, bool) {
	for _, v := range []string{passwordKeyEnv(ref), passwordFileEnv, passwordEnv} {
		if v != "" && e.Getenv(v) != "" {
			return v, true
		}
	}
	return "", false
}

// readPasswordFile reads the password from the file named by
// BSI_KEY_PASSWORD_FILE: its first line, without the line end. The file
// must be a regular file readable by its owner only, like a private key.
// Errors name the file, never its content.
func readPasswordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", passwordFileEnv, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", passwordFileEnv, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: password file %s is not a regular file", passwordFileEnv, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, withHint(fmt.Errorf("%s: password file %s has mode %04o: group or others may read it", passwordFileEnv, path, perm),
			"chmod 600 %s", shellQuote(path))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading password file %s: %w", passwordFileEnv, path, err)
	}
	if len(data) > maxPasswordFile {
		return nil, fmt.Errorf("%s: password file %s is larger than %d bytes", passwordFileEnv, path, maxPasswordFile)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("%s: password file %s: the first line is empty", passwordFileEnv, path)
	}
	return line, nil
}

// errInterrupted is returned when Ctrl-C (or SIGTERM) ends a password prompt.
var errInterrupted = errors.New("interrupted at the password prompt")

// keyPassword returns the password for the key file named by what, from the
// first source that is set (the order "bsi help" states): BSI_KEY_PASSWORD_<NAME>,
// the file named by BSI_KEY_PASSWORD_FILE, BSI_KEY_PASSWORD, else a prompt
// on the terminal (asked twice when confirm is set, for a new key). It
// never echoes the password, and never prints it: the prompts go to stderr
// and name only the key, errors name only the source.
func keyPassword(e *env, what string, confirm bool) ([]byte, error) {
	if v := passwordKeyEnv(what); v != "" {
		if p := e.Getenv(v); p != "" {
			return []byte(p), nil
		}
	}
	if f := e.Getenv(passwordFileEnv); f != "" {
		return readPasswordFile(f)
	}
	if p := e.Getenv(passwordEnv); p != "" {
		return []byte(p), nil
	}
	if !e.StdinTerminal {
		return nil, withHint(errNoPassword, "set %s for this key, or %s or %s (a new key may instead be written with --insecure-no-password)",
			passwordKeyEnv(what), passwordFileEnv, passwordEnv)
	}
	fd := int(os.Stdin.Fd())
	fmt.Fprintf(e.Stderr, "Password for %s: ", what)
	p, err := readPassword(fd)
	fmt.Fprintln(e.Stderr)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if confirm {
		fmt.Fprintf(e.Stderr, "Repeat password for %s: ", what)
		q, err := readPassword(fd)
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading password: %w", err)
		}
		if string(p) != string(q) {
			return nil, errors.New("the two passwords differ")
		}
	}
	if len(p) == 0 {
		return nil, errors.New("empty password")
	}
	return p, nil
}

// readPassword reads a line from the terminal fd with echo off. Ctrl-C or
// SIGTERM during the read ends it with errInterrupted and the terminal's
// echo restored: term.ReadPassword alone would keep waiting for Enter, as
// bsi's main catches SIGINT to cancel its context, or leave the terminal
// without echo if the signal killed the process.
func readPassword(fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	type result struct {
		p   []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		p, err := term.ReadPassword(fd)
		res <- result{p, err}
	}()
	select {
	case r := <-res:
		return r.p, r.err
	case <-sigs:
		term.Restore(fd, state)
		return nil, errInterrupted // the read is abandoned: the command ends
	}
}
