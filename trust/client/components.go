package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bsiframework/bsi/trust"
)

// Component is one delegation of the top-level targets role and the
// targets reachable through it (TUF 5.6.7 search, per component).
type Component struct {
	// Role is the role targets delegates to ("webkit"), or "targets" for
	// the targets the top-level role lists itself.
	Role string
	// Targets are the targets the search of Lookup would return whose chain
	// starts with Role (Target.Roles[1] == Role), sorted by path.
	Targets []*Target
	// Err is nil, or why this component's metadata could not be used in
	// full: errors.Is(Err, trust.ErrSecurity) for an attack,
	// trust.ErrFreshness for an expired role, neither for an operational
	// failure (network). Targets may then be empty or partial: a target is
	// listed only when every role on its chain verified.
	Err error
}

// Components refreshes when no refresh succeeded yet and returns one
// Component per delegation of the top-level targets role, in delegation
// order, preceded by "targets" itself when it lists targets. The error is
// non-nil only when the top-level chain (root, timestamp, snapshot,
// targets) cannot be used; a failure below targets is confined to its
// Component.
//
// # Containment
//
// Roles are verified per delegation edge (delegator -> role), never per
// role name alone: a role file reached through a second delegator is
// verified against that delegator's keys too. Every direct delegation of
// targets is loaded before any deeper one, so a nested role that claims
// the name of a top-level component ("webkit" delegating a role named
// "safari") is checked against the nested delegator's keys, and its
// failure is the nested delegator's component's Err. A mirror serving a
// forged "safari" therefore makes safari's Err a security error; it never
// makes safari's targets silently disappear.
//
// Each component visits at most as many delegation edges as the snapshot
// lists roles, follows chains at most Limits.MaxDelegations roles deep
// (no search could return a target deeper), and refuses succinct hash
// bins that would be more roles than the snapshot lists (or more than
// 2^16) before naming any bin. A component that passes a bound gets a
// *DelegationError and keeps the targets it verified within the bound.
//
// A component's target is one the search of Lookup returns through it.
// When the delegated paths of two components overlap, the earlier one
// comes first in that search (5.6.7.2): if its metadata fails, a path it
// is delegated is left out of the later component too, whose Err then
// wraps the earlier one's failure. Components whose paths do not overlap
// (the layout bsi's publisher makes: "webkit/*", "safari/*") never affect
// each other.
func (c *Client) Components(ctx context.Context) ([]Component, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.components(ctx, nil)
}

// ComponentsFunc is Components for a caller that need not hold every
// target at once (a device planning from 10,000 improvements): it calls
// fn with each target of each component as soon as the target is known,
// in the order Components lists them, and keeps in Component.Targets only
// the targets for which fn returns true. Every target passed to fn is one
// Components would list; a component's Err may be set after some of its
// targets were passed (they verified all the same, as in Components). fn
// runs with the client locked: it must not call the client. When the
// error is non-nil, fn may have been called for some targets already.
//
// A large role trusted through the verified-state record is not held
// whole while it is enumerated: it is read from the metadata directory
// again one run of entries at a time, each hashed against what was
// verified. A stored role that changes on disk once fn has seen targets
// (another process writing the directory) makes the error say to check
// again (an operational error, neither trust.ErrSecurity nor
// trust.ErrFreshness); before that, the enumeration starts again by
// itself.
func (c *Client) ComponentsFunc(ctx context.Context, fn func(role string, t *Target) (keep bool)) ([]Component, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.components(ctx, fn)
}

// Targets returns every target the search of Lookup would return, sorted
// by path: the targets of every Component, concatenated. It fetches every
// delegated role reachable from targets. The error is the top-level one
// of Components, or else the Err of the first component that failed; the
// targets returned with such an error are still every target whose chain
// verified, so a caller that acts per target may use them.
func (c *Client) Targets(ctx context.Context) ([]*Target, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	comps, err := c.components(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []*Target
	var first error
	for _, comp := range comps {
		out = append(out, comp.Targets...)
		if first == nil && comp.Err != nil {
			first = fmt.Errorf("client: component %s: %w", comp.Role, comp.Err)
		}
	}
	slices.SortFunc(out, func(a, b *Target) int { return cmp.Compare(a.Path, b.Path) })
	return out, first
}

// components enumerates; fn, when set, is ComponentsFunc's.
func (c *Client) components(ctx context.Context, fn func(role string, t *Target) bool) ([]Component, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	ts := c.trusted
	called := false
	keep := fn
	if fn != nil {
		keep = func(role string, t *Target) bool { called = true; return fn(role, t) }
	}
	comps, err := c.enumerate(ctx, ts, keep)
	switch {
	case errors.Is(err, errStoredChanged) && called:
		// fn saw targets already and cannot take them back.
		err = fmt.Errorf("client: stored metadata changed on disk while it was read; check again: %w", err)
	case errors.Is(err, errStoredChanged):
		// A stored role read through its index changed on disk: load
		// every role again the usual way.
		c.log.Warn("stored metadata changed since it was verified; verifying again", "err", err)
		c.dropIndexed(ts)
		comps, err = c.enumerate(ctx, ts, keep)
	}
	if serr := c.saveRecord(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return comps, nil
}

// binsCap bounds the succinct hash bins a delegation may make, whatever
// the snapshot lists: 2^16 roles.
const binsCap = 1 << 16

// component is the state of one Component while it is built.
type component struct {
	Component
	files []*targetsFile // the roles of its subtree that verified
	dead  bool           // the edge targets -> Role itself failed
	// keep, when set, is ComponentsFunc's fn: a target is added to
	// Targets only when it returns true.
	keep   func(role string, t *Target) bool
	listed int // targets found, kept or not
}

// add records t as a target of the component.
func (cs *component) add(t *Target) {
	cs.listed++
	if cs.keep == nil || cs.keep(cs.Role, t) {
		cs.Targets = append(cs.Targets, t)
	}
}

// fail records err as the component's error: the first one, unless a
// later one is a security error and the first is not.
func (cs *component) fail(err error) {
	if cs.Err == nil || (!errors.Is(cs.Err, trust.ErrSecurity) && errors.Is(err, trust.ErrSecurity)) {
		cs.Err = err
	}
}

// enumerate builds the components of ts: 5.6.7 run per delegation edge,
// the direct delegations of targets first.
func (c *Client) enumerate(ctx context.Context, ts *trustedSet, keep func(string, *Target) bool) ([]Component, error) {
	// One attempt per edge: a role that failed is not fetched again by
	// every search that passes it.
	type edgeKey struct{ role, delegator string }
	failed := map[edgeKey]error{}
	load := func(ctx context.Context, role, delegator string) (*targetsFile, error) {
		k := edgeKey{role, delegator}
		if err := failed[k]; err != nil {
			return nil, err
		}
		f, err := c.loadRole(ctx, ts, role, delegator)
		if err != nil && !errors.Is(err, errStoredChanged) {
			failed[k] = err
		}
		return f, err
	}
	top, err := load(ctx, roleTargets, roleRoot)
	if err != nil {
		return nil, err
	}
	d, err := top.delegs()
	if err != nil {
		return nil, err
	}
	nroles, err := ts.snapshot.count()
	if err != nil {
		return nil, err
	}
	kids, err := d.children(roleTargets, nroles)
	if err != nil {
		return nil, err // the top-level targets role itself is unusable
	}
	self := &component{Component: Component{Role: roleTargets}, files: []*targetsFile{top}, keep: keep}
	comps := make([]*component, len(kids))
	// 5.6.7: every direct delegation of targets first, so that no nested
	// edge can claim a top-level component's name before its own edge.
	for i, k := range kids {
		comps[i] = &component{Component: Component{Role: k}, keep: keep}
		f, err := load(ctx, k, roleTargets)
		if errors.Is(err, errStoredChanged) {
			return nil, err
		}
		if err != nil {
			comps[i].fail(err)
			comps[i].dead = true
			continue
		}
		comps[i].files = append(comps[i].files, f)
	}
	// A nested edge to a role that targets delegates directly, when
	// targets' own edge to it failed verification: the file served under
	// that name is not the one targets means, and a nested delegator that
	// would accept it is refused rather than have the forgery stored under
	// the component's name. (A role that failed for freshness or the
	// network is loaded as usual and fails, or not, on its own.)
	forged := map[string]bool{}
	for _, cs := range comps {
		forged[cs.Role] = cs.dead && errors.Is(cs.Err, trust.ErrSecurity)
	}
	for _, cs := range comps {
		if cs.dead {
			continue
		}
		if err := c.walk(ctx, cs, nroles, forged, load); err != nil {
			return nil, err
		}
	}
	all := append([]*component{self}, comps...)
	// Every role is read in full before any target is passed on: a
	// stored file that changed on disk is found here, while enumeration
	// can still start again (other failures are collect's).
	for _, cs := range all {
		for _, f := range cs.files {
			if err := f.readEntries(); errors.Is(err, errStoredChanged) {
				return nil, err
			}
		}
	}
	for _, cs := range all {
		if err := c.collect(ctx, cs, top, load); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		// Cancelled: the components' failures say nothing about them.
		return nil, err
	}
	out := make([]Component, 0, len(all))
	if self.listed > 0 {
		out = append(out, self.Component)
	}
	for _, cs := range comps {
		if cs.Err != nil {
			c.log.Warn("component not usable in full", "role", cs.Role, "targets", cs.listed, "err", cs.Err)
		}
		out = append(out, cs.Component)
	}
	return out, nil
}

// walk loads, depth first in delegation order, every role reachable from
// the component's own role (loaded already), one delegation edge at a
// time. Only errStoredChanged is returned; every other failure is the
// component's.
func (c *Client) walk(ctx context.Context, cs *component, nroles int, forged map[string]bool, load loader) error {
	type edge struct {
		role, delegator string
		depth           int // roles on the chain, targets included
	}
	type edgeKey struct{ role, delegator string }
	visited := map[edgeKey]bool{{cs.Role, roleTargets}: true}
	var stack []edge
	push := func(f *targetsFile, depth int) error {
		d, err := f.delegs()
		if err != nil {
			return err
		}
		kids, err := d.children(f.role, nroles)
		if err != nil {
			return err
		}
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, edge{kids[i], f.role, depth + 1})
		}
		return nil
	}
	if err := push(cs.files[0], 2); err != nil {
		if errors.Is(err, errStoredChanged) {
			return err
		}
		cs.fail(err)
		return nil
	}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := edgeKey{e.role, e.delegator}
		if visited[k] {
			continue // 5.6.7.1: a cycle
		}
		if len(visited) >= nroles {
			cs.fail(&DelegationError{Role: e.role, Delegator: e.delegator,
				Reason: fmt.Sprintf("component %s has more delegations than the %d roles the snapshot lists", cs.Role, nroles)})
			return nil
		}
		if e.depth > c.limits.MaxDelegations {
			cs.fail(&DelegationError{Role: e.role, Delegator: e.delegator,
				Reason: fmt.Sprintf("chain of %d roles is longer than the maximum of %d", e.depth, c.limits.MaxDelegations)})
			continue
		}
		visited[k] = true
		if forged[e.role] {
			cs.fail(&DelegationError{Role: e.role, Delegator: e.delegator,
				Reason: "targets delegates this role too, and the file served for it failed verification against targets' keys"})
			continue
		}
		f, err := load(ctx, e.role, e.delegator)
		if err == nil {
			err = push(f, e.depth)
		}
		if errors.Is(err, errStoredChanged) {
			return err
		}
		if err != nil {
			cs.fail(err)
			continue
		}
		cs.files = append(cs.files, f)
	}
	return nil
}

// collect sets the component's targets: every path its roles list that
// the search of Lookup (5.6.7) returns through the component.
func (c *Client) collect(ctx context.Context, cs *component, top *targetsFile, load loader) error {
	var streams []*pathStream
	for _, f := range cs.files {
		ps, err := f.paths()
		if errors.Is(err, errStoredChanged) {
			return err
		}
		if err != nil {
			cs.fail(err)
			continue
		}
		streams = append(streams, ps)
	}
	topDelegs, err := top.delegs()
	if err != nil {
		return err
	}
	// The paths of the component's roles in order, each once.
	return mergePaths(streams, func(p string) error {
		f, failed, err := searchChain(ctx, p, c.limits.MaxDelegations, load)
		if errors.Is(err, errStoredChanged) {
			return err
		}
		if err != nil {
			// failed[1] is the component the failing role belongs to.
			owner := ""
			if len(failed) > 0 {
				owner = failed[min(1, len(failed)-1)]
			}
			var de *DelegationError
			switch {
			case owner == cs.Role && errors.As(err, &de):
				c.log.Warn("target left out", "path", p, "component", cs.Role, "err", err)
			case owner == cs.Role:
				cs.fail(err)
			case cs.Role != roleTargets && delegatesTo(topDelegs, p, cs.Role):
				cs.fail(fmt.Errorf("client: target %q left out: the search for it reaches component %s first, whose metadata failed: %w", p, owner, err))
			default:
				c.log.Debug("target not delegated to the component listing it", "path", p, "component", cs.Role)
			}
			return nil
		}
		if f == nil || !inComponent(f.roles, cs.Role) {
			return nil // listed here, but the search returns another role's entry or none
		}
		cs.add(f.target())
		return nil
	})
}

// inComponent reports whether a search result's chain belongs to role's
// component.
func inComponent(chain []string, role string) bool {
	if role == roleTargets {
		return len(chain) == 1
	}
	return len(chain) > 1 && chain[1] == role
}

// delegatesTo reports whether d delegates path to role.
func delegatesTo(d *delegations, path, role string) bool {
	return slices.ContainsFunc(d.childrenFor(path), func(c child) bool { return c.name == role })
}
