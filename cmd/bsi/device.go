package main

import (
	"flag"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

// The device commands (client, tuf-client, version), the environment and
// dispatcher of every command, and the command-line conventions they share
// (errors and exit codes, flag parsing, escaping) live in
// cmd/internal/devicecli, which bsi-agent links too. This file gives the
// conventions their short names here.

type (
	usageError = devicecli.UsageError // a mistake in the command line: exit 2
	hintError  = devicecli.HintError  // an error with a "bsi: hint: ..."
	stringList = devicecli.StringList // a repeatable string flag
)

func usagef(format string, a ...any) error { return devicecli.Usagef(format, a...) }

func withHint(err error, format string, a ...any) error {
	return devicecli.WithHint(err, format, a...)
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int { return devicecli.ExitCode(err) }

// printable escapes control and format characters and invalid UTF-8 (see
// devicecli.Printable).
func printable(s string) string { return devicecli.Printable(s) }

func newFlags(name string) *flag.FlagSet { return devicecli.NewFlags(name) }

// parseFlags parses flags and positional arguments in any order (see
// devicecli.ParseFlags).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	return devicecli.ParseFlags(fs, args)
}

// wantArgs checks the count of positional arguments.
func wantArgs(pos []string, min, max int, what string) error {
	return devicecli.WantArgs(pos, min, max, what)
}

// writeJSONTo prints v on stdout as JSON (indented unless compact), without
// escaping "<", ">" and "&": the --json output of every command.
func writeJSONTo(e *env, v any, compact ...bool) error {
	return devicecli.WriteJSON(e.Stdout, v, compact...)
}

// stderrTerminal reports whether e.Stderr, where progress bars go, is a
// terminal.
func stderrTerminal(e *env) bool { return devicecli.StderrTerminal(e.Stderr) }
