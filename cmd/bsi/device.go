package main

import (
	"context"
	"flag"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

// The device commands (client, tuf-client, version) and the command-line
// conventions they share with every other command (errors and exit codes,
// flag parsing, escaping) live in cmd/internal/devicecli, which bsi-agent
// links too. This file adapts them to this binary's env and command.

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
	return devicecli.WriteJSON(e.stdout, v, compact...)
}

// stderrTerminal reports whether e.stderr, where progress bars go, is a
// terminal.
func stderrTerminal(e *env) bool { return devicecli.StderrTerminal(e.stderr) }

// device is e as the device commands take it.
func (e *env) device() *devicecli.Env {
	return &devicecli.Env{
		Stdin:         e.stdin,
		Stdout:        e.stdout,
		Stderr:        e.stderr,
		Getenv:        e.getenv,
		Now:           e.now,
		Terminal:      e.terminal,
		StdinTerminal: e.stdinTerminal,
		Logger:        e.logger,
	}
}

// fromDevice adapts device commands to this binary.
func fromDevice(dcs ...*devicecli.Command) []*command {
	out := make([]*command, len(dcs))
	for i, dc := range dcs {
		out[i] = &command{name: dc.Name, args: dc.Args, summary: dc.Summary, help: dc.Help,
			run: func(ctx context.Context, e *env, args []string) error { return dc.Run(ctx, e.device(), args) }}
	}
	return out
}

func clientCommands() []*command    { return fromDevice(devicecli.ClientCommands()...) }
func tufClientCommands() []*command { return fromDevice(devicecli.TUFClientCommands()...) }
func versionCommand() *command      { return fromDevice(devicecli.VersionCommand("bsi"))[0] }
