package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/trust"
)

// Options configures a demo run. The zero value runs in a temporary
// directory that is removed afterwards.
type Options struct {
	// Dir is where keys, the workspace, the published tree and the device
	// live; empty means a new temporary directory.
	Dir string
	// Keep leaves Dir in place when Run returns.
	Keep bool
	// Event receives each step as it finishes; nil discards.
	Event func(Event)
	// Logger receives the HTTP server's access log; nil discards.
	Logger *slog.Logger
	// Now is the start of the demo clock; zero means the current time.
	Now time.Time

	// breakDefence, set only by this package's tests, disables one defence
	// on purpose (see brokenDefences) so that a test can prove the story
	// fails, naming the step, when bsi does not defend itself.
	breakDefence string
	// fleet, set only by this package's tests, is the fleet size of the
	// rollout story (zero: defaultFleet).
	fleet int
}

// brokenDefences are the values of Options.breakDefence: each changes what
// the device receives or keeps, never how a step is judged.
var brokenDefences = map[string]string{
	// The device forgets the timestamp it trusts just before the replay,
	// as a client that keeps no trusted state would.
	"rollback": "attack-rollback",
	// The device's clock lags a day behind during the freeze, so the
	// frozen timestamp does not look expired to it.
	"freeze": "attack-freeze",
	// The attacker's tampering is a no-op: the device receives the genuine
	// payload and installs it during the attack step.
	"tamper": "attack-tamper",
	// The witnesses cosign the attacker's fork of the log (as witnesses
	// that cosign anything, or that the attacker holds, would).
	"split-view": "attack-split-view",
}

// Event is one step of the story.
type Event struct {
	Step  int    `json:"step"`
	Name  string `json:"name"`  // short id: "publish", "attack-rollback", ...
	Actor string `json:"actor"` // publisher, device, attacker
	// OK is true when bsi behaved as it must: the install happened, or the
	// attack was stopped.
	OK bool `json:"ok"`
	// Line is one plain sentence of what happened and why it matters.
	Line string `json:"line"`
	// Error is the real error the client gave, for attacks.
	Error string `json:"error,omitempty"`
	// Class is "security", "freshness" or "operational" for Error.
	Class string `json:"class,omitempty"`
}

// Result summarises a run.
type Result struct {
	Dir    string  `json:"dir"`
	Kept   bool    `json:"kept"`
	Events []Event `json:"events"`
	Failed int     `json:"failed"`
}

// StepError is returned by Run when a step did not behave as expected.
type StepError struct {
	Failed []string // names of the failed steps
}

func (e *StepError) Error() string {
	return fmt.Sprintf("demo: %d step(s) did not behave as expected: %s", len(e.Failed), strings.Join(e.Failed, ", "))
}

// clock is the demo's shared clock: publisher and device read it, and the
// freeze step moves it forward instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Run plays the whole story and returns what happened. The error is a
// *StepError when a step misbehaved, or the failure that stopped the demo.
func Run(ctx context.Context, opts Options) (res *Result, err error) {
	if _, ok := brokenDefences[opts.breakDefence]; opts.breakDefence != "" && !ok {
		return nil, fmt.Errorf("demo: no defence %q to break", opts.breakDefence)
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bsi-demo-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	res = &Result{Dir: dir, Kept: opts.Keep}
	if !opts.Keep {
		defer os.RemoveAll(dir)
	}
	start := opts.Now
	if start.IsZero() {
		start = time.Now()
	}
	w := &world{
		ctx:       ctx,
		dir:       dir,
		clock:     &clock{t: start.UTC().Truncate(time.Second)},
		logger:    opts.Logger,
		broken:    opts.breakDefence,
		fleetSize: cmp.Or(opts.fleet, defaultFleet),
		emit: func(ev Event) {
			ev.Step = len(res.Events) + 1
			res.Events = append(res.Events, ev)
			if opts.Event != nil {
				opts.Event(ev)
			}
		},
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	defer w.close()
	for _, step := range w.story() {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := step(); err != nil {
			return res, err
		}
	}
	var failed []string
	for _, ev := range res.Events {
		if !ev.OK {
			failed = append(failed, ev.Name)
		}
	}
	res.Failed = len(failed)
	if len(failed) > 0 {
		return res, &StepError{Failed: failed}
	}
	return res, nil
}

// errorClass names the class of a client error, as the exit codes do.
func errorClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, trust.ErrSecurity):
		return "security"
	case errors.Is(err, trust.ErrFreshness):
		return "freshness"
	default:
		return "operational"
	}
}

// stopped is the event of an attack: OK when the device refused with an
// error of the wanted class and nothing installed changed.
func stopped(name, line string, err error, want string, before, after []agent.Installed) Event {
	ev := Event{Name: name, Actor: "attacker", Error: errString(err), Class: errorClass(err)}
	same := sameInstalled(before, after)
	switch {
	case err == nil:
		ev.Line = "NOT STOPPED: " + line
	case ev.Class != want:
		ev.Line = fmt.Sprintf("stopped, but as a %s failure where a %s one was expected: %s", ev.Class, want, line)
	case !same:
		ev.Line = "STOPPED TOO LATE: installed improvements changed: " + line
	default:
		ev.OK = true
		ev.Line = "stopped: " + line
	}
	return ev
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sameInstalled(a, b []agent.Installed) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Component != b[i].Component || a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// labels lists installed improvements as "webkit 26.3 (a)".
func labels(in []agent.Installed) string {
	if len(in) == 0 {
		return "nothing (the platform's baseline)"
	}
	var s []string
	for _, i := range in {
		s = append(s, i.Label())
	}
	return strings.Join(s, ", ")
}
