package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

// Exit codes, documented in "bsi help".
const (
	exitOK        = devicecli.ExitOK
	exitFailure   = devicecli.ExitFailure
	exitUsage     = devicecli.ExitUsage
	exitSecurity  = devicecli.ExitSecurity
	exitFreshness = devicecli.ExitFreshness
)

// env is everything a command may touch outside its arguments, so that tests
// run commands in-process with their own streams, environment and clock.
type env struct {
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string
	now      func() time.Time
	terminal bool // stdout is a terminal (colour, progress bars)
	// stdinTerminal reports whether stdin is a terminal we may prompt on.
	stdinTerminal bool
	logger        *slog.Logger
}

func osEnv() *env {
	d := devicecli.OSEnv() // the process's streams, environment, clock and terminals, set up once
	return &env{stdin: d.Stdin, stdout: d.Stdout, stderr: d.Stderr, getenv: d.Getenv, now: d.Now,
		terminal: d.Terminal, stdinTerminal: d.StdinTerminal, logger: d.Logger}
}

// command is one "bsi GROUP VERB" (or "bsi VERB") command.
type command struct {
	name    string // "keys generate", "demo"
	args    string // synopsis after the name: "[--type T] --out PATH"
	summary string // one line for "bsi help"
	help    string // long help with examples, for "bsi CMD -h"
	run     func(ctx context.Context, e *env, args []string) error
}

// groups lists the command groups in the order "bsi help" shows them.
var groups = []struct{ name, title string }{
	{"demo", "Start here"},
	{"keys", "Publishers: keys"},
	{"manifest", "Publishers: improvement manifests"},
	{"repo", "Publishers: repository workspace"},
	{"rollout", "Publishers: staged rollout"},
	{"client", "Devices: check, install, roll back"},
	{"serve", "Publishers: serving"},
	{"fleet", "Publishers: fleet reports"},
	{"conformance", "Auditors: conformance suite"},
	{"audit", "Auditors: repository audit"},
	{"monitor", "Auditors: transparency log monitor"},
	{"witness", "Witnesses: transparency log witness"},
	{"tuf-client", "Auditors: TUF conformance client protocol"},
	{"", "Other"},
}

// commands returns every command of the binary. Each command group lives in
// a file of its own and contributes one function here.
func commands() []*command {
	return slices.Concat(
		keysCommands(),
		manifestCommands(),
		repoCommands(),
		rolloutCommands(),
		clientCommands(),
		tufClientCommands(),
		serveCommands(),
		fleetCommands(),
		demoCommands(),
		conformanceCommands(),
		benchCommands(),
		loadCommands(),
		witnessCommands(),
		monitorCommands(),
		[]*command{versionCommand()},
	)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	cmds := commands()
	if len(args) == 0 {
		printHelp(e.stderr, cmds)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c := findCommand(cmds, args[1:]); c != nil {
				printCommandHelp(e.stdout, c)
				return exitOK
			}
			fmt.Fprintf(e.stderr, "bsi: error: unknown command %q\n", strings.Join(args[1:], " "))
			return exitUsage
		}
		printHelp(e.stdout, cmds)
		return exitOK
	}
	c, rest := lookup(cmds, args)
	if c == nil && len(args) == 2 && isHelpFlag(args[1]) && len(groupCommands(cmds, args[0])) > 0 {
		printGroupHelp(e.stdout, cmds, args[0]) // "bsi keys -h"
		return exitOK
	}
	if c == nil {
		fmt.Fprintf(e.stderr, "bsi: error: unknown command %q\n", strings.Join(args[:min(2, len(args))], " "))
		if sub := groupCommands(cmds, args[0]); len(sub) > 0 {
			fmt.Fprintf(e.stderr, "bsi: hint: %q has: %s\n", args[0], strings.Join(sub, ", "))
		} else {
			fmt.Fprintln(e.stderr, "bsi: hint: run \"bsi help\" for the list of commands")
		}
		return exitUsage
	}
	err := c.run(ctx, e, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(e.stdout, c)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "bsi: error: %s\n", printable(err.Error()))
		var he *hintError
		if errors.As(err, &he) {
			fmt.Fprintf(e.stderr, "bsi: hint: %s\n", printable(he.Hint))
		}
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.stderr, "bsi: hint: usage: bsi %s %s (see \"bsi %s -h\")\n", c.name, c.args, c.name)
		}
	}
	return exitCode(err)
}

// lookup finds the command named by the longest prefix of args.
func lookup(cmds []*command, args []string) (*command, []string) {
	if len(args) >= 2 {
		if c := findCommand(cmds, args[:2]); c != nil {
			return c, args[2:]
		}
	}
	if c := findCommand(cmds, args[:1]); c != nil {
		return c, args[1:]
	}
	return nil, nil
}

func findCommand(cmds []*command, words []string) *command {
	name := strings.Join(words, " ")
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

func groupCommands(cmds []*command, group string) []string {
	var out []string
	for _, c := range cmds {
		if g, verb, ok := strings.Cut(c.name, " "); ok && g == group {
			out = append(out, verb)
		}
	}
	return out
}

func groupOf(c *command) string {
	g, _, _ := strings.Cut(c.name, " ")
	for _, gr := range groups {
		if gr.name == g {
			return g
		}
	}
	return ""
}

const helpIntro = `bsi delivers background security improvements: urgent patches for one
component of a platform, signed and checked for freshness through a TUF role
hierarchy (root, targets, per-component roles, snapshot, timestamp).

Usage: bsi COMMAND [ARGS] [FLAGS]     (bsi COMMAND -h for details and examples)
`

const helpExit = `Exit codes:
  0  success
  1  failure (bad input, network, disk)
  2  usage error (unknown command, bad flag)
  3  security verification failure (signature, threshold, rollback, hash,
     delegation, manifest/role mismatch): nothing was installed
  4  freshness failure (expired metadata: a possible freeze attack)

Environment: the password of an encrypted private key file comes from the
first of these that is set (else a prompt on a terminal, which never echoes):
  BSI_KEY_PASSWORD_<NAME>  that key's password: NAME is the key file's base
                           name upper-cased, other characters than A-Z and 0-9
                           as "_" (keys/snapshot: BSI_KEY_PASSWORD_SNAPSHOT)
  BSI_KEY_PASSWORD_FILE    a file (mode 0600) whose first line is the password
  BSI_KEY_PASSWORD         the password of every key
The PIN of a PKCS#11 token (a key given as a pkcs11: URI) comes from the
URI's pin-source=file:/path, else BSI_PKCS11_PIN, else a prompt.

Diagnostics go to stderr as "bsi: error: ..." and "bsi: hint: ..."; data
goes to stdout; commands that report take --json.
`

func printHelp(w io.Writer, cmds []*command) {
	fmt.Fprint(w, helpIntro)
	for _, g := range groups {
		var lines []string
		for _, c := range cmds {
			if groupOf(c) == g.name {
				lines = append(lines, fmt.Sprintf("  bsi %-25s %s", c.name, c.summary))
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n%s\n", g.title, strings.Join(lines, "\n"))
	}
	fmt.Fprint(w, "\n", helpExit)
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// printGroupHelp lists the commands of one group ("bsi keys -h").
func printGroupHelp(w io.Writer, cmds []*command, group string) {
	fmt.Fprintf(w, "Usage: bsi %s COMMAND ... (see \"bsi %s COMMAND -h\")\n\n", group, group)
	for _, c := range cmds {
		if g, _, _ := strings.Cut(c.name, " "); g == group {
			fmt.Fprintf(w, "  bsi %-25s %s\n", c.name, c.summary)
		}
	}
}

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: bsi %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.help, "\n"))
	}
}
