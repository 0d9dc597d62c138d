package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// passwordEnv names the environment variable that holds the password of
// encrypted private keys.
const passwordEnv = "BSI_KEY_PASSWORD"

// errNoPassword is returned when a password is needed but none can be had.
var errNoPassword = errors.New("a password is needed but " + passwordEnv + " is not set and stdin is not a terminal")

// password returns the password for the key named by what: from
// BSI_KEY_PASSWORD when set, else from a prompt on the terminal (asked twice
// when confirm is set, for a new key). It never echoes the password.
func (e *env) password(what string, confirm bool) ([]byte, error) {
	if p := e.getenv(passwordEnv); p != "" {
		return []byte(p), nil
	}
	if !e.stdinTerminal {
		return nil, withHint(errNoPassword, "set %s (a new key may instead be written with --insecure-no-password)", passwordEnv)
	}
	fd := int(os.Stdin.Fd())
	fmt.Fprintf(e.stderr, "Password for %s: ", what)
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if confirm {
		fmt.Fprintf(e.stderr, "Repeat password for %s: ", what)
		q, err := term.ReadPassword(fd)
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
