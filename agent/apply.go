package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/bsiframework/bsi/install"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust"
)

// Result says what Apply did.
type Result struct {
	Done   []Action
	Failed []Failure
}

// Failure is an action that failed; what was installed before it stays.
type Failure struct {
	Action Action
	Err    error
}

// Apply carries out the changing actions of rep.Plan (Install, RollBack,
// Retire) for which want returns true (nil: all of them: converge).
//
// Decisions are per component: a Blocked component (its metadata failed,
// or its role signed a rejected target) has no changing action, and the
// other components go ahead. Every payload is fetched and checked
// (length and hashes, by trust/client) before the first switch; a payload
// that fails to download or verify fails its own action only. Each action
// is then applied as journaled steps; one that fails (a failed health
// check, a bad archive) leaves its component as it was and the others go
// on. A failed health check also declines the improvement, so it is not
// retried until installed by name. An action whose installer step could
// neither finish nor undo itself (the disk failing again in its undo or
// clean-up) stays pending in installed.json: Apply stops there, and the
// next Open recovers the install root and settles the step by what is
// current.
//
// The error joins rep.Err() (the blocked components and rejected targets)
// and the failures of the actions, so that its class is the worst of the
// run. Two changing actions for one component are refused (a
// *ConflictError) before anything is fetched.
func (a *Agent) Apply(ctx context.Context, rep *Report, want func(Action) bool) (*Result, error) {
	var todo []Action
	for _, act := range rep.Plan {
		if act.Kind.Changes() && (want == nil || want(act)) {
			todo = append(todo, act)
		}
	}
	if err := oneChangeEach(todo); err != nil {
		return nil, a.failApply(err)
	}
	payloads, failed, err := a.download(ctx, rep, todo)
	if err != nil {
		return nil, a.failApply(errors.Join(rep.Err(), err))
	}
	res := &Result{Failed: failed}
	errs := []error{rep.Err()}
	for _, f := range failed {
		errs = append(errs, f.Err)
	}
	for _, act := range todo {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if slices.ContainsFunc(failed, func(f Failure) bool { return f.Action.Component == act.Component }) {
			continue
		}
		if act.To != nil {
			a.j.undecline(act.Component, act.To.Manifest.ID)
		}
		if err := a.apply(ctx, act, payloads[changeKey(act)], nil); err != nil {
			res.Failed = append(res.Failed, Failure{Action: act, Err: err})
			errs = append(errs, err)
			if a.j.Pending != nil {
				break // left for the next Open to recover; nothing else can start
			}
			continue
		}
		res.Done = append(res.Done, act)
	}
	if lc := a.j.LastCheck; lc != nil && (len(res.Done) > 0 || len(res.Failed) > 0) {
		for _, act := range res.Done {
			lc.Pending = slices.DeleteFunc(lc.Pending, func(s string) bool { return s == describe(act) })
		}
		if len(res.Failed) > 0 {
			// The record says why the pending changes are still pending,
			// and of which class the failure was (an archive refused is a
			// security failure).
			ferr := errors.Join(errs...)
			lc.Error, lc.Class = ferr.Error(), errorClass(ferr)
		}
		errs = append(errs, a.save())
	}
	a.queueReports(ctx, rep, resultEvents(res)) // after the journal commits; never fails Apply
	a.pruneCache()
	return res, errors.Join(errs...)
}

// oneChangeEach refuses two changes of one component in one run: their
// payloads, journal steps and health checks would mix.
func oneChangeEach(acts []Action) error {
	seen := map[string]string{}
	for _, act := range acts {
		id := "the baseline"
		if act.To != nil {
			id = act.To.Manifest.ID
		}
		if prev, ok := seen[act.Component]; ok {
			return &ConflictError{Component: act.Component, IDs: []string{prev, id}}
		}
		seen[act.Component] = id
	}
	return nil
}

// ConflictError is a request for two improvements of one component in
// one run: a component has one improvement at a time.
type ConflictError struct {
	Component string
	IDs       []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %s name two improvements of one component; give one", e.Component, strings.Join(e.IDs, " and "))
}

// failApply records in the last check that nothing was installed, and why.
func (a *Agent) failApply(err error) error {
	err = fmt.Errorf("nothing installed: %w", err)
	if lc := a.j.LastCheck; lc != nil {
		lc.Error, lc.Class = err.Error(), errorClass(err)
		if serr := a.save(); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

// changeKey names the payload of an action by component and improvement:
// "webkit/webkit-26.3-b"; "" for a switch to the baseline.
func changeKey(act Action) string {
	if act.To == nil {
		return ""
	}
	return act.Component + "/" + act.To.Manifest.ID
}

// download fetches and verifies, into the cache, the payload of every
// action that switches to an improvement. It returns the paths by
// changeKey, and the actions whose payload could not be fetched or
// verified (each fails alone: its component is left as it is). err is
// set only when nothing can be fetched at all.
func (a *Agent) download(ctx context.Context, rep *Report, acts []Action) (map[string]string, []Failure, error) {
	c, err := a.client()
	if err != nil {
		return nil, nil, err
	}
	out := map[string]string{}
	if err := os.MkdirAll(a.path(cacheDir), 0o700); err != nil {
		return nil, nil, err
	}
	var failed []Failure
	for _, act := range acts {
		if act.To == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		// The check kept no targets: the search of 5.6.7 again, on the
		// metadata the check verified (or newer, when the agent checked
		// again since: then the target must still be the improvement the
		// plan chose).
		t, err := c.Lookup(ctx, act.To.Path)
		if err == nil && (t == nil || roleOf(t) != act.To.Role) {
			err = fmt.Errorf("%s: target %s is not in the verified metadata", act.Component, act.To.Path)
		}
		if err == nil {
			if m, merr := manifest.FromCustom(t.Custom); merr != nil || !reflect.DeepEqual(m, act.To.Manifest) {
				err = fmt.Errorf("%s: target %s changed since the check that chose it; check again", act.Component, act.To.Path)
			}
		}
		if err != nil {
			failed = append(failed, Failure{Action: act, Err: err})
			continue
		}
		if rep.policy != nil {
			// Logged and witnessed, or not installed (issue 15).
			if err := a.verifyLogged(ctx, c, rep.policy, act.To.Role, t); err != nil {
				failed = append(failed, Failure{Action: act, Err: fmt.Errorf("%s %s: %w", act.Component, act.To.Manifest.ID, err)})
				continue
			}
		}
		p := a.cachePath(t.Path)
		a.hook("download")
		if err := c.Download(ctx, t, p); err != nil {
			failed = append(failed, Failure{Action: act, Err: fmt.Errorf("download %s: %w", t.Path, err)})
			continue
		}
		out[changeKey(act)] = p
	}
	return out, failed, nil
}

// apply makes one change as three journaled steps: intent, switch, result.
// dec, when not nil, is a decline that the result records with the switch
// (see Step.Decline).
func (a *Agent) apply(ctx context.Context, act Action, payload string, dec *Decline) error {
	now := a.opts.Now()
	p := &Step{Kind: act.Kind, Component: act.Component, From: act.From, Payload: payload,
		Reason: act.Reason, Started: now, Decline: dec}
	if act.To != nil {
		m := act.To.Manifest
		p.To = &Installed{Component: m.Component, ID: m.ID, Sequence: m.Sequence, Release: a.cfg.Release,
			Path: act.To.Path, Manifest: m, At: now}
	}
	a.j.Pending = p
	if err := a.save(); err != nil {
		a.j.Pending = nil
		return err
	}
	a.hook("intent")
	var err error
	if p.To != nil {
		err = refusedArchive(a.inst.Install(ctx, p.Component, p.To.ID, payload))
	} else {
		err = a.inst.Rollback(ctx, p.Component, "")
	}
	a.hook("switched")
	if err != nil {
		var he *install.HealthError
		if errors.As(err, &he) {
			a.j.decline(p.Component, p.To.ID, "health check failed: "+he.Err.Error(), a.opts.Now())
		}
		if pending, perr := a.inst.Pending(); pending || perr != nil {
			// The installer could not finish or undo its step: the
			// next Open recovers it, then settles p by what is current.
			a.log.WarnContext(ctx, "step interrupted", "component", p.Component, "kind", p.Kind, "err", err)
			return errors.Join(fmt.Errorf("%s %s: %w", p.Kind, p.Component, err), perr, a.save())
		}
		res, serr := a.settle(p, "after failure: "+err.Error())
		a.log.WarnContext(ctx, "step failed", "component", p.Component, "kind", p.Kind, "result", res)
		return errors.Join(fmt.Errorf("%s %s: %w", p.Kind, p.Component, err), serr, a.save())
	}
	a.finish(p, "done")
	err = a.save()
	a.hook("committed")
	return err
}

// InstallRequest picks the actions that install the improvements named by
// refs, as `bsi client install STATE REF...` does. A ref is
// "component/id" or a bare id; a bare id held by several components is
// refused with an *AmbiguousError listing them. A ref may name the
// improvement the plan already switches to, or any other active
// improvement that applies to the device and whose sequence is not lower
// than the installed one's (the user's choice among equals or higher).
// Two refs of one component are refused with a *ConflictError, an
// improvement of a blocked component with its error. Naming an id clears
// its decline. The owner may install before the improvement's rollout
// stage; a halted rollout is refused with a *rollout.HaltedError (see
// InstallRequestOverridingHalt). The error names the first ref that cannot
// be installed and why.
func (a *Agent) InstallRequest(ctx context.Context, rep *Report, refs []string) (func(Action) bool, error) {
	return a.installRequest(ctx, rep, refs, false)
}

func (a *Agent) installRequest(ctx context.Context, rep *Report, refs []string, overrideHalt bool) (func(Action) bool, error) {
	chosen := map[string]bool{}
	byComp := map[string]string{}
	for _, ref := range refs {
		act, err := a.requestOne(ctx, rep, ref)
		if err != nil {
			return nil, err
		}
		id := act.To.Manifest.ID
		if prev, ok := byComp[act.Component]; ok && prev != id {
			return nil, &ConflictError{Component: act.Component, IDs: []string{prev, id}}
		}
		byComp[act.Component] = id
		if act.Kind == None {
			continue // installed already
		}
		if err := rep.manualInstall(act.Component, id, overrideHalt); err != nil {
			return nil, err
		}
		chosen[changeKey(*act)] = true
		if !slices.ContainsFunc(rep.Plan, func(x Action) bool { return sameChange(x, *act) }) {
			rep.Plan = append(rep.Plan, *act)
		}
	}
	return func(x Action) bool {
		return x.To != nil && chosen[changeKey(x)]
	}, nil
}

func sameChange(x, y Action) bool {
	return x.Kind.Changes() && x.Component == y.Component && x.To != nil && y.To != nil &&
		x.To.Manifest.ID == y.To.Manifest.ID
}

// splitRef reads "component/id" or a bare id (component "").
func splitRef(ref string) (component, id string, err error) {
	c, id, ok := strings.Cut(ref, "/")
	if !ok {
		return "", ref, nil
	}
	if c == "" || id == "" || strings.Contains(id, "/") {
		return "", "", &RequestError{ID: ref, Problem: "is neither ID nor COMPONENT/ID"}
	}
	return c, id, nil
}

// resolve finds the component of ref among the components that hold its
// id (comps, sorted); the error is a *RequestError when none does, an
// *AmbiguousError when a bare id matches several.
func resolve(ref string, comps []string, where string) (component, id string, err error) {
	component, id, err = splitRef(ref)
	if err != nil {
		return "", "", err
	}
	comps = slices.Compact(comps)
	switch {
	case component != "" && slices.Contains(comps, component):
		return component, id, nil
	case component != "" || len(comps) == 0:
		return "", "", &RequestError{ID: ref, Problem: where}
	case len(comps) > 1:
		e := &AmbiguousError{ID: id}
		for _, c := range comps {
			e.Candidates = append(e.Candidates, c+"/"+id)
		}
		return "", "", e
	}
	return comps[0], id, nil
}

// AmbiguousError is a bare id that several components hold: ids are
// unique per component only.
type AmbiguousError struct {
	ID         string
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%s is ambiguous: name one of %s", e.ID, strings.Join(e.Candidates, ", "))
}

// requestOne finds (or makes) the action installing ref; its Kind is None
// when ref is installed already.
func (a *Agent) requestOne(ctx context.Context, rep *Report, ref string) (*Action, error) {
	var comps []string
	_, bare, _ := splitRef(ref)
	for _, o := range rep.offers.find("", bare) {
		comps = append(comps, o.role)
	}
	slices.Sort(comps)
	comp, id, err := resolve(ref, comps, "not listed by the verified metadata")
	if err != nil {
		return nil, err
	}
	if err := rep.componentErr(comp); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", comp, id, err)
	}
	for _, act := range rep.Plan {
		if act.Kind.Changes() && act.Component == comp && act.To != nil && act.To.Manifest.ID == id {
			return &act, nil
		}
	}
	// The last one listed, as the search of the check saw them.
	found := rep.offers.find(comp, id)
	o := found[len(found)-1]
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	if err := rep.offers.materialize(ctx, c.Lookup, o); err != nil {
		return nil, err
	}
	v := o.available()
	cand := &v
	if err := cand.Verify(); err != nil {
		return nil, err
	}
	m := cand.Manifest
	if app := m.Check(a.cfg.Device()); !app.Applies {
		return nil, &RequestError{ID: comp + "/" + id, Problem: "does not apply to this device: " + app.String()}
	}
	in := a.j.Installed[m.Component]
	switch {
	case in != nil && in.ID == id:
		return &Action{Kind: None, Component: m.Component, From: in, To: cand, Reason: "installed"}, nil
	case in != nil && m.Sequence < in.Sequence:
		return nil, &RequestError{ID: comp + "/" + id, Problem: fmt.Sprintf(
			"sequence %d %s is lower than installed %s %s; a lower sequence is reached only by withdrawal or by rolling back",
			m.Sequence, manifest.SequenceLabel(m.Sequence), in.ID, manifest.SequenceLabel(in.Sequence))}
	}
	return &Action{Kind: Install, Component: m.Component, From: in, To: cand, Reason: "requested by name"}, nil
}

// RequestError is an improvement that cannot be installed by name.
type RequestError struct{ ID, Problem string }

func (e *RequestError) Error() string { return e.ID + ": " + e.Problem }

// Rollback removes the installed improvement ref ("component/id" or a
// bare id; a bare id installed in several components is an
// *AmbiguousError) by the user's choice. With baselineOnly it switches the
// component to the baseline without any network access; otherwise it
// checks the repository and switches to the highest active applicable
// improvement of lower sequence that the device has not declined, or the
// baseline when there is none; a component whose metadata is blocked
// cannot be checked, and nothing changes (other components' failures do
// not matter). The removed improvement is declined: checks no longer
// offer it until it is installed by name. The decline is part of the
// journaled switch (Step.Decline): a crash before the switch leaves id
// installed and not declined, one after it leaves id removed and declined.
func (a *Agent) Rollback(ctx context.Context, ref string, baselineOnly bool) (*Action, error) {
	var comps, names []string
	_, bare, _ := splitRef(ref)
	for _, x := range a.j.installedList() {
		names = append(names, x.Component+"/"+x.ID)
		if x.ID == bare {
			comps = append(comps, x.Component)
		}
	}
	comp, id, err := resolve(ref, comps, "not installed (installed: "+orNone(names)+")")
	if err != nil {
		return nil, err
	}
	in := a.j.Installed[comp]
	act := Action{Kind: RollBack, Component: in.Component, From: in, Reason: "rolled back by the user"}
	var payload string
	if !baselineOnly {
		rep, err := a.Check(ctx)
		if rep == nil {
			return nil, fmt.Errorf("nothing changed: %w", err)
		}
		if err := rep.componentErr(comp); err != nil {
			return nil, fmt.Errorf("nothing changed: %w", err)
		}
		c, err := a.client()
		if err != nil {
			return nil, fmt.Errorf("nothing changed: %w", err)
		}
		if act.To, err = rep.offers.lower(ctx, c.Lookup, in.Component, in.Sequence); err != nil {
			return nil, fmt.Errorf("nothing changed: %w", err)
		}
		if act.To != nil {
			ps, failed, err := a.download(ctx, rep, []Action{act})
			if err == nil && len(failed) > 0 {
				err = failed[0].Err
			}
			if err != nil {
				return nil, fmt.Errorf("nothing changed: %w", err)
			}
			payload = ps[changeKey(act)]
		}
	}
	dec := &Decline{ID: id, Reason: "rolled back by the user", At: a.opts.Now()}
	if err := a.apply(ctx, act, payload, dec); err != nil {
		return nil, err
	}
	a.queueReports(ctx, nil, []event{doneEvent(act, "user")})
	a.pruneCache()
	return &act, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// refusedArchive classes an archive the installer refuses as a security
// failure: it verified against signed metadata, so a holder of a signing
// key published it (see install.ArchiveError). The message is the
// installer's.
func refusedArchive(err error) error {
	var ae *install.ArchiveError
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	return &archiveRefused{err}
}

type archiveRefused struct{ err error }

func (e *archiveRefused) Error() string   { return e.err.Error() }
func (e *archiveRefused) Unwrap() []error { return []error{e.err, trust.ErrSecurity} }
