package devicecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/bsiframework/bsi/trust"
)

// Exit codes, documented in "bsi help" and "bsi-agent help".
const (
	ExitOK        = 0
	ExitFailure   = 1
	ExitUsage     = 2
	ExitSecurity  = 3
	ExitFreshness = 4
)

// Env is everything a command may touch outside its arguments, so that
// tests run commands in-process with their own streams, environment and
// clock.
type Env struct {
	// Prog is the name of the program ("bsi", "bsi-agent"; "bsi" when
	// empty), for messages that tell which command to run next.
	Prog     string
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Getenv   func(string) string
	Now      func() time.Time
	Terminal bool // stdout is a terminal (colour, progress bars)
	// StdinTerminal reports whether stdin is a terminal we may prompt on.
	StdinTerminal bool
	Logger        *slog.Logger
}

// OSEnv is the Env of the process: its standard streams and environment,
// the system clock, and warnings logged on stderr.
func OSEnv() *Env {
	return &Env{
		Stdin:         os.Stdin,
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
		Getenv:        os.Getenv,
		Now:           time.Now,
		Terminal:      term.IsTerminal(int(os.Stdout.Fd())),
		StdinTerminal: term.IsTerminal(int(os.Stdin.Fd())),
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func (e *Env) prog() string {
	if e.Prog == "" {
		return "bsi"
	}
	return e.Prog
}

// Command is one "PROGRAM GROUP VERB" (or "PROGRAM VERB") command.
type Command struct {
	Name    string // "client check", "version"
	Args    string // synopsis after the name: "STATE [--json]"
	Summary string // one line for "PROGRAM help"
	Help    string // long help with examples, for "PROGRAM CMD -h"
	Run     func(ctx context.Context, e *Env, args []string) error
}

// UsageError is a mistake in the command line: exit 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, a ...any) error {
	return &UsageError{fmt.Sprintf(format, a...)}
}

// HintError carries a suggestion printed as "PROGRAM: hint: ..." after the
// error.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// WithHint returns err with a formatted hint.
func WithHint(err error, format string, a ...any) error {
	return &HintError{Err: err, Hint: fmt.Sprintf(format, a...)}
}

// ExitCode maps an error to the documented exit codes: a *UsageError is 2,
// trust.ErrSecurity 3, trust.ErrFreshness 4, any other error 1.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, trust.ErrSecurity):
		return ExitSecurity
	case errors.Is(err, trust.ErrFreshness):
		return ExitFreshness
	default:
		return ExitFailure
	}
}

// Printable returns s with control characters (C0, DEL, C1), invalid
// UTF-8 and Unicode format characters escaped as Go would quote them, so
// that names from metadata, archives or URLs in a message can neither
// hide text nor drive the terminal (ESC sequences, NUL, bidi overrides).
func Printable(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f ||
		r >= 0x80 && r < 0xa0 || unicode.Is(unicode.Cf, r)
}

// NewFlags returns a flag set that reports errors instead of exiting and
// prints its defaults only on -h.
func NewFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// ParseFlags parses args with flags and positional arguments in any order
// ("bsi repo sign DIR --key K" and "bsi repo sign --key K DIR"), returning
// the positional arguments. "--" ends flag parsing. A bad flag is a
// *UsageError; -h is flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, Usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if t := terminator(fs, args); t >= 0 && len(args)-len(rest) == t+1 {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// terminator returns the index of the "--" that ends the options in args
// as fs parses them, or -1: a "--" that is the value of a flag ("--dir --")
// is not one.
func terminator(fs *flag.FlagSet, args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return i
		}
		if len(a) < 2 || a[0] != '-' {
			return -1 // parsing stops at the first positional argument
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		i++ // its value
	}
	return -1
}

// StringList is a repeatable string flag.
type StringList []string

func (s *StringList) String() string     { return strings.Join(*s, ",") }
func (s *StringList) Set(v string) error { *s = append(*s, v); return nil }

// WriteJSON prints v on w as JSON (indented unless compact), without
// escaping "<", ">" and "&": the --json output of every command.
func WriteJSON(w io.Writer, v any, compact ...bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if len(compact) == 0 || !compact[0] {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// WantArgs checks the count of positional arguments: at least min, at most
// max (no limit when max < 0), none empty. It returns a *UsageError naming
// what is missing or extra.
func WantArgs(pos []string, min, max int, what string) error {
	if slices.Contains(pos, "") {
		// An empty name would mean "the current directory" to the OS.
		return Usagef("empty argument where %s is expected", what)
	}
	switch {
	case len(pos) < min:
		return Usagef("missing %s", what)
	case max >= 0 && len(pos) > max:
		return Usagef("unexpected argument %q", pos[max])
	}
	return nil
}
