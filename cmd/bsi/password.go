package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// passwordEnv names the environment variable that holds the password of
// encrypted private keys.
const passwordEnv = "BSI_KEY_PASSWORD"

// errNoPassword is returned when a password is needed but none can be had.
var errNoPassword = errors.New("a password is needed but " + passwordEnv + " is not set and stdin is not a terminal")

// errInterrupted is returned when Ctrl-C (or SIGTERM) ends a password prompt.
var errInterrupted = errors.New("interrupted at the password prompt")

// password returns the password for the key named by what: from
// BSI_KEY_PASSWORD when set, else from a prompt on the terminal (asked twice
// when confirm is set, for a new key). It never echoes the password, and
// never prints it: the prompts go to stderr and name only the key.
func (e *env) password(what string, confirm bool) ([]byte, error) {
	if p := e.getenv(passwordEnv); p != "" {
		return []byte(p), nil
	}
	if !e.stdinTerminal {
		return nil, withHint(errNoPassword, "set %s (a new key may instead be written with --insecure-no-password)", passwordEnv)
	}
	fd := int(os.Stdin.Fd())
	fmt.Fprintf(e.stderr, "Password for %s: ", what)
	p, err := readPassword(fd)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if confirm {
		fmt.Fprintf(e.stderr, "Repeat password for %s: ", what)
		q, err := readPassword(fd)
		fmt.Fprintln(e.stderr)
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
