package agent

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust"
)

// Installed is what the journal says is installed for one component.
type Installed struct {
	Component string `json:"component"`
	ID        string `json:"id"`
	Sequence  int    `json:"sequence"`
	// Release is the device's release when the improvement was installed.
	Release string `json:"release"`
	// Path is the target path the payload came from.
	Path string `json:"path"`
	// Manifest is the manifest as verified at install time. Plan prefers the
	// one in the newest signed metadata when the target is still listed.
	Manifest *manifest.Manifest `json:"manifest"`
	// At is when the switch was made.
	At time.Time `json:"at"`
}

// Label is the user-facing name: "webkit 26.3 (a) webkit-26.3-a".
func (in *Installed) Label() string {
	return in.Component + " " + in.Manifest.Label(in.Release) + " " + in.ID
}

// Available is a target of verified metadata that carries a manifest.
type Available struct {
	// Path is the target path, "webkit/webkit-26.3-a.tar.gz".
	Path string
	// Role is the first delegated role on the chain that signed the target
	// (Target.Roles[1]), or "targets" when the top-level role listed it.
	Role string
	// Manifest is the decoded custom "bsi" field.
	Manifest *manifest.Manifest
}

// Label is the user-facing name on release: "webkit 26.3 (b) webkit-26.3-b".
func (a *Available) Label(release string) string {
	return a.Manifest.Component + " " + a.Manifest.Label(release) + " " + a.Manifest.ID
}

// Verify checks that the manifest belongs where it was signed: its
// component equals the signing role and the first segment of the target
// path, and the path is "<component>/<id>.tar.gz" or ".tar". The error is a
// *MismatchError (a security error).
func (a *Available) Verify() error {
	m := a.Manifest
	if m.Component != a.Role {
		return &MismatchError{Path: a.Path, Role: a.Role, Component: m.Component, ID: m.ID,
			Problem: fmt.Sprintf("manifest component %q differs from signing role %q", m.Component, a.Role)}
	}
	if err := m.CheckTargetPath(a.Path); err != nil {
		return &MismatchError{Path: a.Path, Role: a.Role, Component: m.Component, ID: m.ID,
			Problem: err.Error()}
	}
	return nil
}

// MismatchError is a manifest that does not belong to the role or the
// target path that carries it: a role trying to ship another component's
// improvement, or to rename one. It wraps trust.ErrSecurity; the target is
// never installed.
type MismatchError struct {
	Path, Role, Component, ID string
	Problem                   string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("target %s signed by role %s: %s", e.Path, e.Role, e.Problem)
}

func (e *MismatchError) Unwrap() error { return trust.ErrSecurity }

// Kind is what Plan decides for a component or a target.
type Kind int

const (
	// None: nothing to do (up to date, or nothing applies).
	None Kind = iota
	// Install switches to a higher (or equal-sequence, different) improvement.
	Install
	// RollBack leaves a withdrawn improvement for the highest active
	// applicable lower one, or the baseline.
	RollBack
	// Retire leaves an improvement that no longer applies to the device
	// (its release changed) for the desired one, or the baseline.
	Retire
	// KeepAndWarn keeps an installed improvement that disappeared from
	// signed metadata without a withdrawal, and reports it.
	KeepAndWarn
	// Ignore is a target that does not apply to the device (platform,
	// release or build), or whose manifest is invalid.
	Ignore
	// Reject is a target whose manifest does not match its signing role or
	// path: a security error; it is never installed.
	Reject
	// Blocked is a component whose metadata could not be used (expired,
	// missing, hostile role) or whose role signed a rejected target:
	// nothing of it changes. Its installed improvement is kept, and the
	// failure, not a disappearance, is reported.
	Blocked
)

var kindNames = [...]string{"none", "install", "rollback", "retire", "keep-and-warn", "ignore", "reject", "blocked"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// MarshalText writes the name, for JSON reports.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	i := slices.Index(kindNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("unknown action kind %q", b)
	}
	*k = Kind(i)
	return nil
}

// Changes reports whether the action changes what is installed.
func (k Kind) Changes() bool { return k == Install || k == RollBack || k == Retire }

// Action is one decision of Plan.
type Action struct {
	Kind      Kind
	Component string
	// From is the installed improvement concerned; nil when none is.
	From *Installed
	// To is the improvement to switch to (Install, RollBack, Retire), or the
	// desired one (None); nil means the baseline or nothing.
	To *Available
	// Target is the target concerned by Ignore and Reject.
	Target *Available
	// Reason says why, for people.
	Reason string
	// Err is the security error of a Reject, or the failure of a Blocked
	// component's metadata (a *ComponentError); nil for a component
	// blocked by a rejected target, whose Reject carries the error.
	Err error
}

// ComponentError is a component whose metadata could not be used. Err is
// the cause as trust/client gave it: errors.Is(err, trust.ErrSecurity) for
// an attack, trust.ErrFreshness for expired metadata, neither for an
// operational failure (a role that could not be fetched).
type ComponentError struct {
	Component string
	Err       error
}

func (e *ComponentError) Error() string {
	return fmt.Sprintf("component %s: %v", e.Component, e.Err)
}

func (e *ComponentError) Unwrap() error { return e.Err }

// Plan decides, for each component, how to converge what is installed to
// what device should have, following DESIGN.md "Client decision rules":
//
//   - the desired improvement is the active, applicable one with the
//     highest sequence ([manifest.Select]);
//   - an installed improvement withdrawn in signed metadata is rolled back
//     to the desired one, or the baseline when none is left (RollBack), or
//     replaced when the desired one is not lower (Install);
//   - an installed improvement that no longer applies to the device (the
//     release, build or platform changed) is retired (Retire);
//   - an installed improvement that disappeared from metadata without a
//     withdrawal is kept and reported (KeepAndWarn), unless a desired one
//     with a sequence at least as high exists;
//   - otherwise the desired improvement is installed when it differs from
//     the installed one and its sequence is not lower (Install): a lower
//     sequence is reached only through withdrawal.
//
// Targets for another platform, release or build give Ignore; targets whose
// manifest does not match the signing role or path give Reject and take no
// part in any decision.
//
// Decisions are per component. A component in failed (its metadata could
// not be used; the value is its error) or whose role signed a rejected
// target is Blocked: none of its targets is considered, its installed
// improvement is neither rolled back nor retired, and every other
// component is decided as if it were not there. A rejected target signed
// by the top-level targets role, which holds the keys of every component
// role, blocks every component. Actions come sorted by
// component, then kind.
func Plan(device manifest.Device, installed []Installed, available []Available, failed map[string]error) []Action {
	var acts []Action
	rejected := map[string][]string{}
	for i := range available {
		a := &available[i]
		if err := a.Verify(); err != nil {
			acts = append(acts, Action{Kind: Reject, Component: a.Role, Target: a, Reason: err.Error(), Err: err})
			rejected[a.Role] = append(rejected[a.Role], a.Path)
		}
	}
	inst := map[string]*Installed{}
	for i := range installed {
		inst[installed[i].Component] = &installed[i]
	}
	blocked := map[string]bool{}
	for c, err := range failed {
		blocked[c] = true
		acts = append(acts, blockedAction(c, inst[c], err, "", nil))
	}
	for c, paths := range rejected {
		if !blocked[c] && c != "targets" {
			blocked[c] = true
			acts = append(acts, blockedAction(c, inst[c], nil, c, paths))
		}
	}
	if paths := rejected["targets"]; paths != nil {
		// The top-level targets role holds the keys of every component
		// role: when it signs a rejected target, no component is decided.
		for _, c := range componentsOf(available, installed) {
			if !blocked[c] {
				blocked[c] = true
				acts = append(acts, blockedAction(c, inst[c], nil, "targets", paths))
			}
		}
	}
	byComp := map[string][]*Available{}
	for i := range available {
		a := &available[i]
		if blocked[a.Role] || a.Verify() != nil {
			continue
		}
		c := a.Manifest.Component
		byComp[c] = append(byComp[c], a)
		if app := a.Manifest.Check(device); !app.Applies && app.Reason != manifest.Withdrawn {
			acts = append(acts, Action{Kind: Ignore, Component: c, Target: a, Reason: app.String()})
		}
	}
	comps := make([]string, 0, len(byComp)+len(inst))
	for c := range byComp {
		comps = append(comps, c)
	}
	for c := range inst {
		if _, ok := byComp[c]; !ok && !blocked[c] {
			comps = append(comps, c)
		}
	}
	for _, c := range comps {
		acts = append(acts, decide(device, c, inst[c], byComp[c]))
	}
	slices.SortStableFunc(acts, func(x, y Action) int {
		return cmp.Or(strings.Compare(x.Component, y.Component), cmp.Compare(x.Kind, y.Kind),
			strings.Compare(targetPath(x.Target), targetPath(y.Target)))
	})
	return acts
}

// componentsOf lists the components of available targets' roles and of
// installed improvements, sorted, without the top-level "targets".
func componentsOf(available []Available, installed []Installed) []string {
	var out []string
	for _, a := range available {
		if a.Role != "targets" {
			out = append(out, a.Role)
		}
	}
	for _, in := range installed {
		out = append(out, in.Component)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// blockedAction is the decision for a component that cannot be decided:
// err is why its metadata failed, or paths are the rejected targets that
// role (the component's own, or the top-level targets) signed.
func blockedAction(c string, in *Installed, err error, role string, paths []string) Action {
	act := Action{Kind: Blocked, Component: c, From: in}
	if err != nil {
		act.Err = &ComponentError{Component: c, Err: err}
		act.Reason = fmt.Sprintf("%s: metadata could not be used (%s): %v", c, errorClass(err), err)
	} else {
		act.Reason = fmt.Sprintf("%s: role %s signed rejected target(s) %s", c, role, strings.Join(paths, ", "))
	}
	if in != nil {
		act.Reason += "; " + in.ID + " kept, nothing of " + c + " changes"
	} else {
		act.Reason += "; nothing of " + c + " is installed"
	}
	return act
}

func targetPath(a *Available) string {
	if a == nil {
		return ""
	}
	return a.Path
}

// decide applies the rules to one component.
func decide(d manifest.Device, comp string, in *Installed, cands []*Available) Action {
	ms := make([]*manifest.Manifest, len(cands))
	for i, a := range cands {
		ms[i] = a.Manifest
	}
	var desired *Available
	if m := manifest.Select(d, ms); m != nil {
		desired = cands[slices.Index(ms, m)]
	}
	act := Action{Component: comp, From: in, To: desired}
	if in == nil {
		if desired == nil {
			act.Reason = "no applicable improvement"
			return act
		}
		act.Kind, act.Reason = Install, "desired "+desired.Manifest.Label(d.Release)
		return act
	}
	var listed *Available
	for _, a := range cands {
		if a.Manifest.ID == in.ID {
			listed = a
		}
	}
	m := in.Manifest
	if listed != nil {
		m = listed.Manifest
	}
	notLower := desired != nil && desired.Manifest.Sequence >= in.Sequence
	app := m.Check(d)
	switch {
	case listed != nil && m.Status == manifest.StatusWithdrawn:
		why := fmt.Sprintf("%s is withdrawn: %s", in.ID, m.WithdrawnReason)
		if notLower {
			act.Kind, act.Reason = Install, why+"; replaced by "+desired.Manifest.ID
		} else {
			act.Kind, act.Reason = RollBack, why+"; back to "+orBaseline(desired)
		}
	case !app.Applies && app.Reason != manifest.Withdrawn:
		act.Kind = Retire
		act.Reason = fmt.Sprintf("%s no longer applies (%s); switching to %s", in.ID, app, orBaseline(desired))
	case notLower && desired.Manifest.ID != in.ID:
		act.Kind, act.Reason = Install, "desired "+desired.Manifest.Label(d.Release)
	case listed == nil:
		act.Kind = KeepAndWarn
		act.Reason = in.ID + " disappeared from signed metadata without a withdrawal; kept"
	default:
		act.Reason = "up to date"
	}
	return act
}

func orBaseline(a *Available) string {
	if a == nil {
		return "the baseline"
	}
	return a.Manifest.ID
}

func sortInstalled(in []Installed) {
	slices.SortFunc(in, func(a, b Installed) int { return strings.Compare(a.Component, b.Component) })
}
