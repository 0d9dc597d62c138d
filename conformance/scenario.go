package conformance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
)

// Scenario is one named check of a client.
type Scenario struct {
	// Name is "group/name", unique, stable: xfail files refer to it.
	Name string
	// Description says in one line what the repository does and what the
	// client must do.
	Description string
	// Spec references the TUF specification section (or DESIGN.md rule).
	Spec string
	// Fault names the client check the scenario is aimed at: "signature",
	// "expiry", "rollback", "hash", "length", "delegation", "type" ... or ""
	// for a scenario the client must get through.
	Fault string
	// Run drives the client against a simulator.
	Run func(t *T)
}

// Group is the first segment of the scenario name.
func (s Scenario) Group() string {
	g, _, _ := strings.Cut(s.Name, "/")
	return g
}

// Groups lists the scenario groups in their report order.
var Groups = []string{"basic", "root", "expiry", "rollback", "keys", "delegation", "names", "targets", "limits", "bsi"}

// Scenarios returns every scenario, in group order.
func Scenarios() []Scenario {
	all := slices.Concat(basicScenarios(), envelopeScenarios(), rootScenarios(), expiryScenarios(), rollbackScenarios(),
		keyScenarios(), containKeyScenarios(), delegationScenarios(), containDelegationScenarios(), nameScenarios(),
		targetScenarios(), limitScenarios(), bsiScenarios(), tlogScenarios())
	return all
}

// T is the context of one scenario run: the simulator, the client, the
// scenario's directories, and what failed.
type T struct {
	ctx    context.Context
	client []string
	bsi    []string
	dir    string
	// Repo is the scenario's simulated repository.
	Repo *sim.Repo
	// MetadataDir and TargetDir are the client's directories.
	MetadataDir, TargetDir string

	calls   []Invocation
	failed  bool
	msgs    []string
	cleanup []func()
}

// Invocation is one run of the client.
type Invocation struct {
	Args     []string `json:"args"`
	Exit     int      `json:"exit"`
	Stdout   string   `json:"stdout,omitempty"`
	Stderr   string   `json:"stderr,omitempty"`
	Requests []string `json:"requests"`
	// Files lists the files of the metadata and target directories after the run.
	Files    []string      `json:"files"`
	Duration time.Duration `json:"duration_ns"`
}

func (inv *Invocation) String() string {
	return fmt.Sprintf("%s: exit %d, requests %v, files %v%s", strings.Join(inv.Args, " "), inv.Exit,
		inv.Requests, inv.Files, stderrTail(inv.Stderr))
}

func stderrTail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = "..." + s[len(s)-300:]
	}
	return ", stderr: " + s
}

type fatal struct{}

// Errorf records a failure and goes on.
func (t *T) Errorf(format string, a ...any) {
	t.failed = true
	t.msgs = append(t.msgs, fmt.Sprintf(format, a...))
}

// Fatalf records a failure and ends the scenario.
func (t *T) Fatalf(format string, a ...any) {
	t.Errorf(format, a...)
	panic(fatal{})
}

// Context is the scenario's context, done at its timeout.
func (t *T) Context() context.Context { return t.ctx }

// Dir is a scratch directory of the scenario.
func (t *T) Dir() string { return t.dir }

// exec runs argv (a client command plus arguments) and records the run.
func (t *T) exec(argv []string) *Invocation {
	t.Repo.Requests() // forget requests made before
	start := time.Now()
	cmd := exec.CommandContext(t.ctx, argv[0], argv[1:]...)
	cmd.Dir = t.dir
	cmd.WaitDelay = time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout = &limitedWriter{w: &stdout, n: 1 << 20}
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	err := cmd.Run()
	inv := &Invocation{Args: argv, Exit: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String(),
		Requests: t.Repo.Requests(), Duration: time.Since(start)}
	if err != nil && cmd.ProcessState == nil {
		inv.Exit = -1
		inv.Stderr = err.Error()
	}
	if t.ctx.Err() != nil {
		inv.Stderr += "\n(killed: scenario timeout)"
	}
	inv.Files = listFiles(t.dir, t.MetadataDir, t.TargetDir)
	t.calls = append(t.calls, *inv)
	return inv
}

type limitedWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.w.Write(q)
		l.n -= len(q)
	}
	return len(p), nil
}

func listFiles(base string, dirs ...string) []string {
	var out []string
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(base, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
	}
	return out
}
