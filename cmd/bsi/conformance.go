package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bsiframework/bsi/conformance"
)

func conformanceCommands() []*command {
	return []*command{
		{
			Name:    "conformance run",
			Args:    `--client "COMMAND"... [--group G]... [--run REGEX] [--xfails FILE] [--json FILE] [--junit FILE] [--html FILE] [--bsi "COMMAND"] [--parallel N] [--timeout D]`,
			Summary: "run the TUF conformance suite against a client",
			Help: `Runs the conformance scenarios against COMMAND, a client speaking the TUF
client CLI protocol (as "bsi tuf-client" does): each scenario builds its own
repository on 127.0.0.1, makes it misbehave, and drives the client in its
own temporary directories, several scenarios at a time, each with a
timeout (a hanging client fails that scenario, not the run). COMMAND may
hold arguments and quotes: "/usr/local/bin/bsi tuf-client".

The bsi group drives "bsi client" through the device rules (withdrawal,
disappearance, release change, platform and build, sequence, manifest and
role, freeze); --bsi names the bsi command (default: this binary when
COMMAND is bsi; for another client the group is skipped, and says so).
--group (repeatable) selects groups; --run selects
scenarios whose name matches REGEX.

Before any scenario, COMMAND is checked: it must exist, be executable and
answer "init" on a trivial repository with exit 0; otherwise the run stops
with one error (exit 2).

A live progress line goes to stderr, then a table by group and every
failure with what was expected and what the client did (exit code,
requests, files written) to stdout. --json and --junit write machine
reports. --xfails lists expected failures (one scenario name a line, an
optional reason after it): a listed scenario that passes is a failure.
--list prints the scenarios and runs nothing.

--client may be given several times: the suite runs against each client in
turn, and the reports form a matrix. --html writes a self-contained page
(the scenario × client matrix with spec references, every failure
expanded); --json writes schema "bsi.conformance/v1" for one client and
"bsi.conformance-matrix/v1" (one run per client) for several; --junit takes
one client.

Exit codes: 0 when every scenario passed or failed as expected, 1 otherwise,
2 for a client that cannot be run.

Examples:
  bsi conformance run --client "bsi tuf-client"
  bsi conformance run --client "python3 -m myclient" --group rollback --junit out.xml
  bsi conformance run --client ./client --run 'keys/.*' --xfails known.txt --json report.json
  bsi conformance run --client "bsi tuf-client" --client "python3 -m myclient" --html matrix.html`,
			Run: runConformance,
		},
		auditCommand(),
	}
}

type conformanceFlags struct {
	client                                         string // the one being set up
	clients                                        stringList
	bsi, match, xfails, jsonOut, junitOut, htmlOut string
	groups                                         stringList
	parallel                                       int
	timeout                                        time.Duration
	list                                           bool
}

func runConformance(ctx context.Context, e *env, args []string) error {
	var f conformanceFlags
	fs := newFlags("conformance run")
	fs.Var(&f.clients, "client", "")
	fs.StringVar(&f.bsi, "bsi", "", "")
	fs.Var(&f.groups, "group", "")
	fs.StringVar(&f.match, "run", "", "")
	fs.StringVar(&f.xfails, "xfails", "", "")
	fs.StringVar(&f.jsonOut, "json", "", "")
	fs.StringVar(&f.junitOut, "junit", "", "")
	fs.StringVar(&f.htmlOut, "html", "", "")
	fs.IntVar(&f.parallel, "parallel", 4, "")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "")
	fs.BoolVar(&f.list, "list", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if len(f.clients) > 1 && f.junitOut != "" {
		return usagef("conformance run: --junit takes one --client (use --json or --html for a matrix)")
	}
	if len(f.clients) > 0 {
		f.client = f.clients[0]
	}
	o, err := f.options(e)
	if err != nil {
		return err
	}
	if f.list {
		sel, err := o.Selected()
		if err != nil {
			return usagef("%v", err)
		}
		for _, s := range sel {
			fmt.Fprintf(e.Stdout, "%-50s %s\n", s.Name, s.Description)
		}
		return nil
	}
	progress := func(done, total int, r conformance.Result) {
		fmt.Fprintf(e.Stderr, "\r\033[K[%d/%d] %s %s", done, total, r.Status, r.Name)
		if done == total {
			fmt.Fprintln(e.Stderr)
		}
	}
	if !e.Terminal {
		progress = func(done, total int, r conformance.Result) {
			if r.Status == conformance.Fail || r.Status == conformance.XPass || done == total {
				fmt.Fprintf(e.Stderr, "[%d/%d] %s %s\n", done, total, r.Status, r.Name)
			}
		}
	}
	o.Progress = progress
	// Every client is checked before any scenario runs: a broken second
	// client must not cost the time of the first one's run.
	for _, client := range f.clients[1:] {
		cmd, err := conformance.SplitCommand(client)
		if err != nil {
			return usagef("conformance run: --client: %v", err)
		}
		if err := conformance.CheckClient(ctx, cmd, ""); err != nil {
			return usagef("%v", err)
		}
	}
	m := &conformance.Matrix{}
	failed := 0
	for i, client := range f.clients {
		if i > 0 {
			f.client = client
			if o, err = f.options(e); err != nil {
				return err
			}
			o.Progress = progress
		}
		rep, err := conformance.Run(ctx, o)
		if ce, ok := errors.AsType[*conformance.ClientError](err); ok {
			return usagef("%v", ce)
		}
		if errors.Is(err, context.Canceled) {
			return errors.New("conformance: interrupted")
		}
		if err != nil {
			return err
		}
		if sel, _ := o.Selected(); o.BSI == nil && slices.ContainsFunc(sel, func(s conformance.Scenario) bool { return s.Group() == "bsi" }) {
			fmt.Fprintf(e.Stderr, "bsi: the client %q is not bsi: the bsi group was skipped (--bsi COMMAND runs it)\n", client)
		}
		if len(f.clients) > 1 {
			if i > 0 {
				fmt.Fprintln(e.Stdout)
			}
			fmt.Fprintf(e.Stdout, "client %d: %s\n\n", i, client)
		}
		if err := rep.WriteText(e.Stdout); err != nil {
			return err
		}
		m.Runs = append(m.Runs, rep)
		failed += len(rep.Failed())
	}
	if err := writeReports(m, f.jsonOut, f.junitOut, f.htmlOut); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("conformance: %s failed", plural(failed, "scenario"))
	}
	return nil
}

// plural is "1 scenario", "2 scenarios".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (f *conformanceFlags) options(e *env) (conformance.Options, error) {
	o := conformance.Options{Groups: f.groups, Match: f.match, Parallel: f.parallel, Timeout: f.timeout}
	if f.client == "" && !f.list {
		return o, usagef("conformance run: --client is required")
	}
	var err error
	if f.client != "" {
		if o.Client, err = conformance.SplitCommand(f.client); err != nil {
			return o, usagef("conformance run: --client: %v", err)
		}
	}
	if f.bsi == "" {
		if isBSI(o.Client) {
			o.BSI = []string{selfCommand()}
		}
	} else if o.BSI, err = conformance.SplitCommand(f.bsi); err != nil {
		return o, usagef("conformance run: --bsi: %v", err)
	}
	if _, err := o.Selected(); err != nil {
		return o, usagef("%v", err)
	}
	if f.xfails != "" {
		fh, err := os.Open(f.xfails)
		if err != nil {
			return o, err
		}
		defer fh.Close()
		if o.XFails, err = conformance.ParseXFails(fh, conformance.Scenarios()); err != nil {
			return o, fmt.Errorf("%s: %w", f.xfails, err)
		}
	}
	return o, nil
}

// isBSI reports whether client runs bsi ("bsi tuf-client", a path to a
// bsi binary, or this binary): only then does the bsi group, which drives
// "bsi client", default to this binary.
func isBSI(client []string) bool {
	if len(client) == 0 {
		return false
	}
	name := strings.TrimSuffix(filepath.Base(client[0]), ".exe")
	if name == "bsi" {
		return true
	}
	self, err := os.Executable()
	if err != nil {
		return false
	}
	p, err := exec.LookPath(client[0])
	if err != nil {
		return false
	}
	a, errA := os.Stat(p)
	b, errB := os.Stat(self)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// selfCommand is how this binary can be run again: argv[0] when it names
// a file (as the shell or a test harness ran it), else the executable.
func selfCommand() string {
	if strings.ContainsRune(os.Args[0], filepath.Separator) {
		if p, err := filepath.Abs(os.Args[0]); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "bsi"
}

// writeFile writes a report through write into path atomically enough for
// a report: a temporary file renamed into place.
func writeFile(path string, write func(f *os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeReports writes the machine and HTML reports of m: the JSON of the
// one run, or of the matrix when there are several clients.
func writeReports(m *conformance.Matrix, jsonOut, junitOut, htmlOut string) error {
	var errs []error
	if jsonOut != "" {
		errs = append(errs, writeFile(jsonOut, func(f *os.File) error {
			if len(m.Runs) == 1 {
				return m.Runs[0].WriteJSON(f)
			}
			return m.WriteJSON(f)
		}))
	}
	if junitOut != "" && len(m.Runs) == 1 {
		errs = append(errs, writeFile(junitOut, func(f *os.File) error { return m.Runs[0].WriteJUnit(f) }))
	}
	if htmlOut != "" {
		errs = append(errs, writeFile(htmlOut, func(f *os.File) error { return m.WriteHTML(f) }))
	}
	return errors.Join(errs...)
}
