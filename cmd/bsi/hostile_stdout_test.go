package main

import (
	"context"
	"strings"
	"unicode/utf8"
)

// Names and reasons from a repository or an archive that reach stdout:
// the REJECTED and ignored lines of "client check", the attention lines
// of "client status", the round lines of "client run". runHostile scans
// stdout of every entry, these included, for raw control and format
// characters (see rawTerminalRune).
var hostileStdout = []hostileInput{
	{name: "stdout/check-target-path-escape", fx: fxDevice, args: check, code: 3, stderr: `\x1b[2J`,
		stage: listTarget("webkit", "webkit/\x1b[2J\x1b]0;owned\x07\u202eok.tar.gz"), advances: roleAdv("webkit.json")},
	{name: "stdout/status-target-path-escape", fx: fxDevice, args: statusArgs, code: 0,
		stage: tried(listTarget("webkit", "webkit/\x1b[2J\u202eok.tar.gz"), check...)},
	{name: "stdout/status-role-name-escape", fx: fxDevice, args: statusArgs, code: 0,
		stage: tried(delegate("web\x1b]0;owned\x07kit"), check...)},
	{name: "stdout/run-target-path-escape", fx: fxDevice, args: []string{"client", "run", "$STATE", "--once"}, code: 3,
		stage: listTarget("webkit", "webkit/\x1b[2J\u009b31mok.tar.gz"), stderr: `\x1b[2J`, advances: roleAdv("webkit.json")},
	{name: "stdout/run-archive-entry-escape", fx: fxDevice, args: []string{"client", "run", "$STATE", "--once", "--auto-install"},
		code: 3, stderr: `\x1b[2J`,
		stage: func(h *hostileEnv) { h.listHostile(tarGz(reg("lib/../../\x1b[2J\u202e", "x"))); h.must(check...) }},
}

var statusArgs = []string{"client", "status", "$STATE"}

// tried stages, then runs a command whatever its exit code (a check that
// fails and records why, for status to show).
func tried(stage func(*hostileEnv), args ...string) func(*hostileEnv) {
	return func(h *hostileEnv) {
		stage(h)
		h.bsi(context.Background(), h.expandAll(args)...)
	}
}

// rawTerminalRune finds, in what a command printed, the first byte that
// would reach the terminal unescaped: a C0 control other than tab and
// newline, DEL, a C1 control, a Unicode format character (bidi overrides,
// zero-width), or invalid UTF-8; -1 when there is none.
func rawTerminalRune(s string) int {
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") || unsafeRune(r) {
			return i
		}
	}
	return -1
}
