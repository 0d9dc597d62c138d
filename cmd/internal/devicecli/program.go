package devicecli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Commands returns every device command of the program named prog: the
// "client ..." commands, "tuf-client" and "version". Their help is
// written for "bsi"; a Program prints it naming itself ("bsi-agent
// client check ..."), when it is asked for, so that a start-up that
// prints no help does not rewrite it.
func Commands(prog string) []*Command {
	return slices.Concat(ClientCommands(), TUFClientCommands(), []*Command{VersionCommand(prog)})
}

// renameProg makes the device commands that text mentions ("bsi client
// check", "bsi help client init") name prog. Mentions of other commands
// ("bsi fleet serve") are of the full bsi and stay.
func renameProg(text, prog string) string {
	if prog == "bsi" {
		return text
	}
	var pairs []string
	for _, c := range []string{"client ", "tuf-client ", "version", "help client"} {
		pairs = append(pairs, "bsi "+c, prog+" "+c)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// Group is a command group of a program's help: commands named "NAME ..."
// are listed under Title.
type Group struct{ Name, Title string }

// Program is a command-line program made of Commands: it finds the command
// an argument list names, runs it, prints its errors and help, and maps
// errors to exit codes (see ExitCode).
type Program struct {
	Name     string     // "bsi-agent": in help and diagnostics
	Intro    string     // "PROG help" starts with it
	Groups   []Group    // the order of "PROG help"; commands of no group go last, under "Other"
	Commands []*Command // every command
	Epilogue string     // "PROG help" ends with it (exit codes)
}

// Run executes one command line and returns the exit code. Diagnostics go
// to e.Stderr as "PROG: error: ..." and "PROG: hint: ..."; help asked for
// goes to e.Stdout.
func (p *Program) Run(ctx context.Context, args []string, e *Env) int {
	if len(args) == 0 {
		p.printHelp(e.Stderr)
		return ExitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c := p.find(args[1:]); c != nil {
				p.printCommandHelp(e.Stdout, c)
				return ExitOK
			}
			fmt.Fprintf(e.Stderr, "%s: error: unknown command %q\n", p.Name, strings.Join(args[1:], " "))
			return ExitUsage
		}
		p.printHelp(e.Stdout)
		return ExitOK
	}
	c, rest := p.lookup(args)
	if c == nil && len(args) == 2 && isHelpFlag(args[1]) && len(p.groupVerbs(args[0])) > 0 {
		p.printGroupHelp(e.Stdout, args[0])
		return ExitOK
	}
	if c == nil {
		fmt.Fprintf(e.Stderr, "%s: error: unknown command %q\n", p.Name, strings.Join(args[:min(2, len(args))], " "))
		if sub := p.groupVerbs(args[0]); len(sub) > 0 {
			fmt.Fprintf(e.Stderr, "%s: hint: %q has: %s\n", p.Name, args[0], strings.Join(sub, ", "))
		} else {
			fmt.Fprintf(e.Stderr, "%s: hint: run \"%s help\" for the list of commands\n", p.Name, p.Name)
		}
		return ExitUsage
	}
	if e.Prog == "" {
		pe := *e
		pe.Prog = p.Name
		e = &pe
	}
	err := c.Run(ctx, e, rest)
	if errors.Is(err, flag.ErrHelp) {
		p.printCommandHelp(e.Stdout, c)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: error: %s\n", p.Name, Printable(err.Error()))
		var he *HintError
		if errors.As(err, &he) {
			fmt.Fprintf(e.Stderr, "%s: hint: %s\n", p.Name, Printable(he.Hint))
		}
		var ue *UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.Stderr, "%s: hint: usage: %s %s %s (see \"%s %s -h\")\n", p.Name, p.Name, c.Name, c.Args, p.Name, c.Name)
		}
	}
	return ExitCode(err)
}

// lookup finds the command named by the longest prefix of args.
func (p *Program) lookup(args []string) (*Command, []string) {
	if len(args) >= 2 {
		if c := p.find(args[:2]); c != nil {
			return c, args[2:]
		}
	}
	if c := p.find(args[:1]); c != nil {
		return c, args[1:]
	}
	return nil, nil
}

func (p *Program) find(words []string) *Command {
	name := strings.Join(words, " ")
	for _, c := range p.Commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// groupVerbs lists the verbs of the commands of group.
func (p *Program) groupVerbs(group string) []string {
	var out []string
	for _, c := range p.Commands {
		if g, verb, ok := strings.Cut(c.Name, " "); ok && g == group {
			out = append(out, verb)
		}
	}
	return out
}

func (p *Program) groupOf(c *Command) string {
	g, _, _ := strings.Cut(c.Name, " ")
	for _, gr := range p.Groups {
		if gr.Name == g {
			return g
		}
	}
	return ""
}

func (p *Program) printHelp(w io.Writer) {
	fmt.Fprint(w, p.Intro)
	groups := p.Groups
	if !slices.ContainsFunc(groups, func(g Group) bool { return g.Name == "" }) {
		groups = append(slices.Clip(groups), Group{"", "Other"})
	}
	for _, g := range groups {
		var lines []string
		for _, c := range p.Commands {
			if p.groupOf(c) == g.Name {
				lines = append(lines, fmt.Sprintf("  %s %-25s %s", p.Name, c.Name, c.Summary))
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n%s\n", g.Title, strings.Join(lines, "\n"))
	}
	fmt.Fprint(w, "\n", p.Epilogue)
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// printGroupHelp lists the commands of one group ("PROG client -h").
func (p *Program) printGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: %s %s COMMAND ... (see \"%s %s COMMAND -h\")\n\n", p.Name, group, p.Name, group)
	for _, c := range p.Commands {
		if g, _, _ := strings.Cut(c.Name, " "); g == group {
			fmt.Fprintf(w, "  %s %-25s %s\n", p.Name, c.Name, c.Summary)
		}
	}
}

func (p *Program) printCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "Usage: %s %s %s\n\n%s\n", p.Name, c.Name, c.Args, c.Summary)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(renameProg(c.Help, p.Name), "\n"))
	}
}
