package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
)

// Options configures Run. The zero value of every field but Client is a
// safe default.
type Options struct {
	// Client is the command of a client speaking the TUF client CLI
	// protocol, split into words: {"/usr/local/bin/bsi", "tuf-client"}.
	Client []string
	// BSI is the bsi command ({"/usr/local/bin/bsi"}) that the bsi group
	// drives as "bsi client ..."; nil skips the bsi group.
	BSI []string
	// Groups restricts the run to these groups (nil: all).
	Groups []string
	// Match restricts the run to scenarios whose name it matches ("": all).
	Match string
	// XFails maps scenario names to the reason they are expected to fail.
	XFails map[string]string
	// Timeout bounds each scenario (default 30s): a hanging client fails
	// that scenario only.
	Timeout time.Duration
	// Parallel is the number of scenarios run at once (default 4).
	Parallel int
	// Progress, when set, is called after each scenario (from one goroutine
	// at a time).
	Progress func(done, total int, r Result)
	// TempDir is where scenario directories are made (default os.TempDir()).
	TempDir string
	// Scenarios replaces the suite (default Scenarios()).
	Scenarios []Scenario
}

// Status is the outcome of one scenario.
type Status string

// Outcomes. XPass (an expected failure that passed) and Fail count as failures.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	XFail   Status = "xfail"
	XPass   Status = "xpass"
	Skipped Status = "skip"
)

// Result is the outcome of one scenario.
type Result struct {
	Name        string        `json:"name"`
	Group       string        `json:"group"`
	Description string        `json:"description"`
	Spec        string        `json:"spec"`
	Fault       string        `json:"fault,omitempty"`
	Status      Status        `json:"status"`
	Failures    []string      `json:"failures,omitempty"`
	XFailReason string        `json:"xfail_reason,omitempty"`
	Calls       []Invocation  `json:"calls,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
}

// Selected returns the scenarios of the suite that o selects.
func (o Options) Selected() ([]Scenario, error) {
	all := o.Scenarios
	if all == nil {
		all = Scenarios()
	}
	var re *regexp.Regexp
	if o.Match != "" {
		var err error
		if re, err = regexp.Compile(o.Match); err != nil {
			return nil, fmt.Errorf("conformance: bad --run pattern: %w", err)
		}
	}
	for _, g := range o.Groups {
		if !slices.Contains(Groups, g) {
			return nil, fmt.Errorf("conformance: unknown group %q (groups: %v)", g, Groups)
		}
	}
	var out []Scenario
	for _, s := range all {
		if (len(o.Groups) == 0 || slices.Contains(o.Groups, s.Group())) && (re == nil || re.MatchString(s.Name)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Run runs the selected scenarios against the client and returns the
// report. The error is for a run that could not happen at all (bad
// pattern; a client that cannot be run or does not answer "init", a
// *ClientError from CheckClient); failing scenarios are in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if len(o.Client) == 0 {
		return nil, errors.New("conformance: no client command")
	}
	scen, err := o.Selected()
	if err != nil {
		return nil, err
	}
	if err := CheckClient(ctx, o.Client, o.TempDir); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	base, err := os.MkdirTemp(o.TempDir, "bsi-conformance-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	results := make([]Result, len(scen))
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
		sem  = make(chan struct{}, o.Parallel)
	)
	for i, s := range scen {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := o.runOne(ctx, filepath.Join(base, fmt.Sprint(i)), s)
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			done++
			if o.Progress != nil {
				o.Progress(done, len(scen), r)
			}
		}()
	}
	wg.Wait()
	rep := &Report{Client: o.Client, Started: time.Now().UTC(), Results: results}
	return rep, ctx.Err()
}

func (o Options) runOne(ctx context.Context, dir string, s Scenario) (r Result) {
	r = Result{Name: s.Name, Group: s.Group(), Description: s.Description, Spec: s.Spec, Fault: s.Fault}
	reason, xfail := o.XFails[s.Name]
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	if s.Group() == "bsi" && len(o.BSI) == 0 {
		r.Status = Skipped
		r.Failures = []string{`skipped: no bsi command given (Options.BSI, --bsi); the bsi group drives "bsi client", not the client under test`}
		return r
	}
	failed, msgs, calls := runScenario(ctx, o, dir, s)
	r.Calls = calls
	r.Failures = msgs
	switch {
	case failed && xfail:
		r.Status, r.XFailReason = XFail, reason
	case failed:
		r.Status = Fail
	case xfail:
		r.Status, r.XFailReason = XPass, reason
		r.Failures = []string{"expected to fail (" + reason + ") but passed"}
	default:
		r.Status = Pass
		r.Calls = nil
	}
	return r
}

func runScenario(ctx context.Context, o Options, dir string, s Scenario) (failed bool, msgs []string, calls []Invocation) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	t := &T{ctx: ctx, client: o.Client, bsi: o.BSI, dir: dir,
		MetadataDir: filepath.Join(dir, "metadata"), TargetDir: filepath.Join(dir, "targets")}
	defer func() { failed, msgs, calls = t.failed, t.msgs, t.calls }()
	if err := os.MkdirAll(t.MetadataDir, 0o755); err != nil {
		t.Errorf("scenario directory: %v", err)
		return
	}
	defer func() {
		for _, f := range slices.Backward(t.cleanup) {
			f()
		}
		if t.Repo != nil {
			t.Repo.Close()
		}
		if p := recover(); p != nil {
			if _, ok := p.(fatal); !ok {
				t.Errorf("scenario panicked: %v\n%s", p, debug.Stack())
			}
		}
		if ctx.Err() != nil && !t.failed {
			t.Errorf("scenario timed out after %v", o.Timeout)
		}
	}()
	t.Repo = sim.New(time.Now(), func(err error) { t.Fatalf("%v", err) })
	s.Run(t)
	return
}
