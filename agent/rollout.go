package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/client"
)

// seedFile holds the device's rollout seed: 32 random bytes, mode 0600,
// never sent anywhere.
const seedFile = "seed"

// Rollout statuses of one improvement on this device (RolloutState.Status).
const (
	RolloutOffered   = "offered"   // a stage up to the current one admits the device
	RolloutWaiting   = "waiting"   // not yet: before the start or before the device's stage
	RolloutHalted    = "halted"    // the publisher stopped it
	RolloutHeld      = "held"      // the rollout role failed: held back as last known
	RolloutInstalled = "installed" // installed already: a rollout never uninstalls
)

// RolloutState is the rollout of one improvement for this device, as the
// last check decided it.
type RolloutState struct {
	Component string `json:"component"`
	ID        string `json:"id"`
	Target    string `json:"target"`
	// Status is one of the Rollout* constants. Held is true when an
	// automatic install is held back now (waiting, halted, held).
	Status string `json:"status"`
	Held   bool   `json:"held"`
	// Text says it for people: "offered from stage 3 (50%) since
	// 2026-12-02T00:00:00Z", "waiting: stage 1 of 4 (canary) until ...",
	// "halted: REASON".
	Text string `json:"text"`
	// Class is, for status "held", the class of the rollout role's
	// failure: "security", "freshness" or "operational".
	Class string `json:"class,omitempty"`
	// Decision is the decision of the verified schedule; nil when the
	// rollout role failed.
	Decision *rollout.Decision `json:"-"`
}

// RolloutRecord is what the journal keeps of the last verified rollout
// role: the components its entries named. When the role later fails, new
// installs of these components are held back (all new installs when none
// is known).
type RolloutRecord struct {
	At         time.Time `json:"at"`
	Components []string  `json:"components,omitempty"`
}

// seed returns the device's rollout seed, creating it (atomically, mode
// 0600) for a state made before seeds existed.
func (a *Agent) seed() (rollout.Seed, error) {
	return loadSeed(a.path(seedFile))
}

func loadSeed(name string) (rollout.Seed, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return writeSeed(name)
	}
	if err != nil {
		return rollout.Seed{}, err
	}
	var s rollout.Seed
	if len(b) != len(s) {
		return s, fmt.Errorf("%s: %d bytes, want %d", name, len(b), len(s))
	}
	copy(s[:], b)
	return s, nil
}

func writeSeed(name string) (rollout.Seed, error) {
	s, err := rollout.NewSeed(rand.Reader)
	if err != nil {
		return s, fmt.Errorf("rollout seed: %w", err)
	}
	if err := atomicfile.WriteFile(name, s[:], 0o600); err != nil {
		return s, fmt.Errorf("rollout seed: %w", err)
	}
	return s, nil
}

// SetRing puts the device in ring ("" for none): the next check decides
// rollouts with it. The error is a *ConfigError for an invalid name.
func (a *Agent) SetRing(ring string) error {
	c := a.cfg
	c.Ring = ring
	if err := c.Validate(); err != nil {
		return err
	}
	if err := writeJSON(a.path(configFile), &c); err != nil {
		return err
	}
	a.cfg = c
	return nil
}

// rolloutGate is what the rollout decided in one check.
type rolloutGate struct {
	states  []RolloutState
	held    map[string]bool // target paths held back from automatic install
	ignored []Action        // entries that gate nothing
	err     error           // the rollout role's failure, a *ComponentError
	record  *RolloutRecord  // the new record, when the role verified
}

// gate applies the rollout role rc (nil when the repository has none) to
// the verified improvements col, following DESIGN.md "Staged rollout":
// only active, applicable candidates can be held; installed ones never
// are; withdrawals are never gated. When the role failed, new installs of
// the components named in the last verified copy (known; all components
// when none is known) are held back, and err carries the failure.
func gate(rc *client.Component, col *improvements, dev rollout.Device, known *RolloutRecord, now time.Time) rolloutGate {
	g := rolloutGate{held: map[string]bool{}}
	if rc == nil {
		return g
	}
	if rc.Err != nil {
		g.err = &ComponentError{Component: rollout.Role, Err: rc.Err}
		g.heldByFailure(col.candidates(nil), known, rc.Err)
		return g
	}
	var entries []rollout.Entry
	scheds := map[string]*rollout.Schedule{}
	rec := &RolloutRecord{At: now}
	for _, t := range rc.Targets {
		if len(t.Roles) != 2 {
			g.ignore(t.Path, "listed by "+strings.Join(t.Roles, " → ")+", not by the rollout role itself")
			continue
		}
		entries = append(entries, rollout.Entry{Path: t.Path, Custom: t.Custom})
		if c, _, ok := rollout.ParseTargetPath(t.Path); ok {
			rec.Components = append(rec.Components, c)
		}
		if s, err := rollout.FromCustom(t.Custom); err == nil {
			scheds[s.Improvement] = s
		}
	}
	slices.Sort(rec.Components)
	rec.Components = slices.Compact(rec.Components)
	g.record = rec
	// Only the improvements the schedules name can be gated: Gate decides
	// the same from those as from every candidate (its Allowed list, the
	// one difference, is not used).
	named := map[string]bool{}
	for _, s := range scheds {
		named[s.Improvement] = true
	}
	cands := col.candidates(named)
	res := rollout.Gate(cands, entries, dev, now)
	for _, ig := range res.Ignored {
		g.ignore(ig.Path, ig.Reason)
	}
	for _, h := range res.Held {
		g.held[h.Target] = true
	}
	for _, c := range cands {
		dec, ok := res.Decisions[c.Target]
		if !ok {
			continue
		}
		st := RolloutState{Component: c.Component, ID: c.ID, Target: c.Target, Held: g.held[c.Target], Decision: &dec}
		st.Status, st.Text = describeDecision(scheds[c.Target], dec, dev, c.Installed)
		g.states = append(g.states, st)
	}
	return g
}

func (g *rolloutGate) ignore(path, reason string) {
	g.ignored = append(g.ignored, Action{Kind: Ignore, Component: rollout.Role,
		Target: &Available{Path: path, Role: rollout.Role}, Reason: "rollout entry ignored: " + reason})
}

// heldByFailure holds back the new installs that a failed rollout role
// might gate: those of the components its last verified copy named, or
// all when none is known. Withdrawals, rollbacks and installed
// improvements are never held.
func (g *rolloutGate) heldByFailure(cands []rollout.Candidate, known *RolloutRecord, err error) {
	class := errorClass(err)
	for _, c := range cands {
		if !c.Active || !c.Applicable || c.Installed {
			continue
		}
		if known != nil && len(known.Components) > 0 && !slices.Contains(known.Components, c.Component) {
			continue
		}
		g.held[c.Target] = true
		g.states = append(g.states, RolloutState{Component: c.Component, ID: c.ID, Target: c.Target,
			Status: RolloutHeld, Held: true, Class: class,
			Text: fmt.Sprintf("held: the rollout role failed (%s): %v", class, err)})
	}
}

// describeDecision is the status and text of a decision for people.
func describeDecision(s *rollout.Schedule, dec rollout.Decision, dev rollout.Device, installed bool) (string, string) {
	stage := func(i int) string {
		st := s.Stages[i]
		what := rollout.FormatPercent(st.BasisPoints)
		if len(st.Rings) > 0 {
			what = strings.Join(st.Rings, "+")
			if st.BasisPoints < rollout.Full {
				what += " " + rollout.FormatPercent(st.BasisPoints)
			}
		}
		return fmt.Sprintf("stage %d of %d (%s)", i+1, len(s.Stages), what)
	}
	var text string
	switch {
	case dec.Halted:
		text = fmt.Sprintf("halted at %s: %s", stamp(dec.HaltedAt), dec.Reason)
	case dec.Offered:
		first := dec.Stage
		for i := range dec.Stage + 1 {
			if s.Stages[i].Admits(dec.Bucket, dev.Ring) {
				first = i
				break
			}
		}
		text = fmt.Sprintf("offered from %s since %s", stage(first), stamp(s.StageStart(first)))
	case !dec.Started:
		text = fmt.Sprintf("waiting: starts at %s", stamp(s.Start))
	default:
		text = fmt.Sprintf("waiting: %s until %s", stage(dec.Stage), stamp(dec.NextAt))
	}
	switch {
	case installed:
		return RolloutInstalled, "installed; " + text
	case dec.Halted:
		return RolloutHalted, text
	case dec.Offered:
		return RolloutOffered, text
	}
	return RolloutWaiting, text
}

// RolloutOf returns the rollout state of component/id, or nil when no
// rollout gates it.
func (r *Report) RolloutOf(component, id string) *RolloutState {
	for i, st := range r.Rollouts {
		if st.Component == component && st.ID == id {
			return &r.Rollouts[i]
		}
	}
	return nil
}

// manualInstall says whether the device's owner may install component/id
// by name: always before its stage ([rollout.Decision.ManualInstall]);
// a halted rollout, or one whose role failed (it may be halted), needs
// overrideHalt. The error is a *rollout.HaltedError or a *HeldError.
func (r *Report) manualInstall(component, id string, overrideHalt bool) error {
	st := r.RolloutOf(component, id)
	switch {
	case st == nil || overrideHalt:
		return nil
	case st.Decision != nil:
		return st.Decision.ManualInstall(false)
	case st.Status == RolloutHeld:
		return &HeldError{Component: component, ID: id, Err: r.RolloutErr}
	}
	return nil
}

// HeldError is a manual install of an improvement whose rollout cannot be
// read (the rollout role failed): it may be halted, so it needs the
// owner's explicit override.
type HeldError struct {
	Component, ID string
	Err           error
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s/%s: its rollout cannot be read (it may be halted): %v", e.Component, e.ID, e.Err)
}

func (e *HeldError) Unwrap() error { return e.Err }

// InstallRequestOverridingHalt is InstallRequest for the device's owner
// who explicitly overrides a halted rollout (bsi client install
// --override-halt): it installs a halted improvement, or one whose
// rollout role failed.
func (a *Agent) InstallRequestOverridingHalt(ctx context.Context, rep *Report, refs []string) (func(Action) bool, error) {
	return a.installRequest(ctx, rep, refs, true)
}
