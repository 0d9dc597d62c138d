package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/trust"
	"github.com/bsiframework/bsi/trust/client"
)

// Collect turns verified targets into improvements. Targets without a
// manifest (no "bsi" key in custom) are not improvements and are skipped;
// a target whose manifest is invalid gives an Ignore note. Role is the
// first delegated role of the signing chain (Target.Roles[1]), or the
// top-level "targets" when it listed the target itself.
func Collect(targets []*client.Target) (avail []Available, notes []Action) {
	c := newImprovements(manifest.Device{}, nil, nil)
	c.keepAll = true
	for _, t := range targets {
		c.add(t)
	}
	for i := range c.offers {
		avail = append(avail, c.offers[i].available())
	}
	return avail, c.notes
}

// roleOf is the component role of a target: the first delegated role of
// its chain, or "targets" when the top-level role lists it.
func roleOf(t *client.Target) string {
	if len(t.Roles) > 1 {
		return t.Roles[1]
	}
	return "targets"
}

// Report is the outcome of a check.
type Report struct {
	Device manifest.Device
	// Ring is the device's rollout ring, "" for none.
	Ring string
	At   time.Time
	// Freshness of the metadata just verified.
	Freshness Freshness
	// Plan is what Plan decided, plus notes on invalid manifests. A
	// component whose metadata failed, or whose role signed a rejected
	// target, has a Blocked action and no other.
	Plan []Action
	// Available lists the improvements Plan decided from, in full: the
	// rejected and ignored targets, and per component the installed
	// improvement when it is listed and the best one that applies and is
	// neither held back nor declined. The check keeps the others in brief
	// (InstallRequest and Rollback read them again when they name one).
	Available []Available
	// Rollouts lists the improvements a rollout gates for this device (or
	// holds back because the rollout role failed), in component order.
	Rollouts []RolloutState
	// RolloutErr is the rollout role's failure (a *ComponentError), nil
	// when it verified or the repository has none.
	RolloutErr error
	// policy is the repository's transparency policy; nil when it has
	// none: then no proof is required.
	policy *transparency.Policy
	// offers are every improvement the verified metadata lists, declined
	// ones included.
	offers *improvements
}

// Err joins the security errors of rejected targets and the errors of
// blocked components (each a *ComponentError); nil when none. Its class
// (errors.Is trust.ErrSecurity, then trust.ErrFreshness) is the class of
// the worst component.
func (r *Report) Err() error {
	var errs []error
	for _, a := range r.Plan {
		if a.Kind == Reject || a.Kind == Blocked && a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	if r.RolloutErr != nil {
		errs = append(errs, r.RolloutErr)
	}
	return errors.Join(errs...)
}

// Blocked returns the Blocked action of component, or nil when the
// component could be decided.
func (r *Report) Blocked(component string) *Action {
	for i, a := range r.Plan {
		if a.Kind == Blocked && a.Component == component {
			return &r.Plan[i]
		}
	}
	return nil
}

// componentErr is why component is blocked: its metadata's error, or the
// security errors of the targets its role signed that were rejected; nil
// when it is not blocked.
func (r *Report) componentErr(component string) error {
	b := r.Blocked(component)
	if b == nil {
		return nil
	}
	if b.Err != nil {
		return b.Err
	}
	var errs []error
	for _, a := range r.Plan {
		if a.Kind == Reject && a.Component == component {
			errs = append(errs, a.Err)
		}
	}
	return fmt.Errorf("%s: %w", b.Reason, errors.Join(errs...))
}

// Pending returns the actions that would change what is installed.
func (r *Report) Pending() []Action {
	var out []Action
	for _, a := range r.Plan {
		if a.Kind.Changes() {
			out = append(out, a)
		}
	}
	return out
}

// Check refreshes the trusted metadata (the whole TUF client workflow),
// lists the improvements per component and plans. It records the outcome
// in the journal for Status.
//
// A failure of root, timestamp, snapshot or top-level targets is returned
// as it came from trust/client, with a nil report: errors.Is(err,
// trust.ErrSecurity) for an attack, trust.ErrFreshness for expired
// metadata, neither for network failures (a *client.FetchError naming the
// URL). A failure confined to components (a component role expired,
// missing or hostile, a target rejected) blocks those components only:
// Check returns the report, whose other components are planned as usual,
// and its Err.
func (a *Agent) Check(ctx context.Context) (*Report, error) {
	c, err := a.client()
	if err != nil {
		return nil, a.failCheck(err)
	}
	if err := c.Refresh(ctx); err != nil {
		return nil, a.failCheck(fmt.Errorf("refresh: %w", err))
	}
	// Each improvement's manifest is read as its target is found, and
	// neither the target nor, mostly, the manifest is kept (a device with
	// 10,000 improvements listed holds neither 10,000 targets nor 10,000
	// manifests; see offers): Apply looks up the few it installs. Kept
	// are the rollout role's schedules, read by gate, and the top-level
	// role's own targets, among them the transparency policy.
	installed := a.j.Installed
	col := newImprovements(a.cfg.Device(), installed, a.j.declined)
	comps, err := c.ComponentsFunc(ctx, func(role string, t *client.Target) bool {
		if role == rollout.Role {
			return true
		}
		col.add(t)
		return role == "targets"
	})
	if err != nil {
		return nil, a.failCheck(fmt.Errorf("list targets: %w", err))
	}
	pol, err := a.checkTransparency(ctx, c, comps)
	if err != nil {
		return nil, a.failCheck(err)
	}
	var rc *client.Component
	failed := map[string]error{}
	for i, comp := range comps {
		if comp.Role == rollout.Role {
			// Not a component: its targets are schedules, read by gate.
			rc = &comps[i]
			continue
		}
		if comp.Err != nil {
			failed[comp.Role] = comp.Err
		}
	}
	seed, err := a.seed()
	if err != nil {
		return nil, a.failCheck(err)
	}
	now := a.opts.Now()
	// The gate's clock is the expiry clock: a device set back in time
	// does not hold back a stage its witnesses vouch has come.
	g := gate(rc, col, rollout.Device{Seed: seed, Ring: a.cfg.Ring}, a.j.Rollout, a.trustedNow())
	if g.record != nil {
		a.j.Rollout = g.record
	}
	// Plan decides from what can matter: the same decisions as from every
	// improvement not held back nor declined (TestPlanFromOffers).
	avail, err := col.forPlan(ctx, c.Lookup, g.held)
	if err != nil {
		return nil, a.failCheck(err)
	}
	plan := append(Plan(a.cfg.Device(), a.j.installedList(), avail, failed), col.notes...)
	plan = append(plan, g.ignored...)
	rep := &Report{Device: a.cfg.Device(), Ring: a.cfg.Ring, At: now, Freshness: freshnessOf(c.Freshness()),
		Plan: plan, Available: avail, Rollouts: g.states, RolloutErr: g.err, policy: pol, offers: col}
	rec := &CheckRecord{At: rep.At, Freshness: &rep.Freshness, Rollouts: rep.Rollouts}
	for _, act := range plan {
		switch {
		case act.Kind.Changes():
			rec.Pending = append(rec.Pending, describe(act))
		case act.Kind == KeepAndWarn, act.Kind == Reject, act.Kind == Blocked:
			rec.Attention = append(rec.Attention, act.Reason)
		}
		if act.Kind == Blocked {
			rec.Components = append(rec.Components, componentRecord(act))
		}
	}
	rec.Components = append(rec.Components, rolloutRecords(rep)...)
	if err := rep.Err(); err != nil {
		rec.Error, rec.Class = err.Error(), errorClass(err)
	}
	a.j.LastCheck = rec
	if err := a.save(); err != nil {
		return nil, err
	}
	return rep, rep.Err()
}

// rolloutRecords are the records of a failed rollout role: the role
// itself, and each component whose new installs it holds back.
func rolloutRecords(rep *Report) []ComponentRecord {
	if rep.RolloutErr == nil {
		return nil
	}
	class := errorClass(rep.RolloutErr)
	out := []ComponentRecord{{Component: rollout.Role, Class: class, Error: rep.RolloutErr.Error()}}
	for _, st := range rep.Rollouts {
		if st.Status == RolloutHeld && !slices.ContainsFunc(out, func(r ComponentRecord) bool { return r.Component == st.Component }) {
			out = append(out, ComponentRecord{Component: st.Component, Class: class,
				Error: "new installs held back: the rollout role failed: " + rep.RolloutErr.Error()})
		}
	}
	return out
}

// componentRecord is the record of a Blocked action: a failed role's
// class, or "security" for a role that signed a rejected target.
func componentRecord(act Action) ComponentRecord {
	if act.Err != nil {
		return ComponentRecord{Component: act.Component, Class: errorClass(act.Err), Error: act.Err.Error()}
	}
	return ComponentRecord{Component: act.Component, Class: "security", Error: act.Reason}
}

// failCheck records a failed check, keeping the last good freshness.
func (a *Agent) failCheck(err error) error {
	rec := &CheckRecord{At: a.opts.Now(), Error: err.Error(), Class: errorClass(err)}
	if a.j.LastCheck != nil {
		rec.Freshness = a.j.LastCheck.Freshness
	}
	a.j.LastCheck = rec
	if serr := a.save(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// errorClass names the class of a failure for the record.
func errorClass(err error) string {
	switch {
	case errors.Is(err, trust.ErrSecurity):
		return "security"
	case errors.Is(err, trust.ErrFreshness):
		return "freshness"
	}
	return "operational"
}

func freshnessOf(f client.Freshness) Freshness {
	return Freshness{
		Verified: f.Verified, TimestampExpires: f.TimestampExpires, SnapshotExpires: f.SnapshotExpires,
		TargetsExpires: f.TargetsExpires, RootExpires: f.RootExpires,
		TimestampVersion: f.TimestampVersion, SnapshotVersion: f.SnapshotVersion,
	}
}

// describe is a one-line summary of a changing action:
// "webkit: install webkit-26.3-b (26.3 (b)) replacing webkit-26.3-a".
func describe(act Action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s ", act.Component, act.Kind)
	if act.To != nil {
		fmt.Fprintf(&b, "to %s", act.To.Manifest.ID)
	} else {
		b.WriteString("to the baseline")
	}
	if act.From != nil {
		fmt.Fprintf(&b, " from %s", act.From.ID)
	}
	if act.Reason != "" {
		fmt.Fprintf(&b, " (%s)", act.Reason)
	}
	return b.String()
}
