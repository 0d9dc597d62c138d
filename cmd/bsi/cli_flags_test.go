package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseFlags: options anywhere among the arguments, "--" ends them
// unless it is a flag's value.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		out     string
		verbose bool
		pos     []string
	}{
		{args: []string{"a", "--out", "o", "b"}, out: "o", pos: []string{"a", "b"}},
		{args: []string{"--out", "--", "a"}, out: "--", pos: []string{"a"}},
		{args: []string{"--out=--", "a"}, out: "--", pos: []string{"a"}},
		{args: []string{"--", "--out", "a"}, pos: []string{"--out", "a"}},
		{args: []string{"a", "--", "-v", "--out"}, pos: []string{"a", "-v", "--out"}},
		{args: []string{"-v", "--", "-x"}, verbose: true, pos: []string{"-x"}},
		{args: []string{"-v", "a", "--out", "--", "--", "-v"}, verbose: true, out: "--", pos: []string{"a", "-v"}},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		verbose := fs.Bool("v", false, "")
		pos, err := parseFlags(fs, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if *out != tt.out || *verbose != tt.verbose || !cmp.Equal(pos, tt.pos) {
			t.Errorf("%q: out %q verbose %v pos %q; want %q %v %q", tt.args, *out, *verbose, pos, tt.out, tt.verbose, tt.pos)
		}
	}
}

// TestPrintable: messages carry names from metadata, archives and URLs;
// what reaches the terminal cannot drive it or hide text.
func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, tabs\tand ünïcödé", "plain text, tabs\tand ünïcödé"},
		{"role web\x1b]0;owned\x07kit", `role web\x1b]0;owned\akit`},
		{"nul\x00byte", `nul\x00byte`},
		{"del\x7f c1\u0085", `del\x7f c1\u0085`},
		{"bidi \u202eevil", `bidi \u202eevil`},
		{"bad utf8 \xff end", `bad utf8 \xff end`},
		{"a real \uFFFD stays", "a real \uFFFD stays"},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestGroupHelp: "bsi GROUP -h" lists the group's commands.
func TestGroupHelp(t *testing.T) {
	for _, group := range []string{"keys", "repo", "client"} {
		var out, errOut strings.Builder
		e := &env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		if code := run(t.Context(), []string{group, "-h"}, e); code != exitOK {
			t.Errorf("bsi %s -h: exit %d: %s", group, code, errOut.String())
		}
		for _, c := range commands() {
			if verb, ok := strings.CutPrefix(c.Name, group+" "); ok && !strings.Contains(out.String(), "bsi "+c.Name) {
				t.Errorf("bsi %s -h does not list %q:\n%s", group, verb, out.String())
			}
		}
	}
}
