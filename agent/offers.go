package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/client"
)

// A check lists every improvement of the repository (10,000 of one
// component, say) but decides on few: per component, the best one that
// applies, the one installed, and those the report names. offers keeps
// every improvement in a few dozen bytes (path, sequence, release date,
// whether it applies) and the manifest only of those a decision or the
// report can name. When a later decision needs another one (a rollout
// holds the best back, a rollback looks lower, an install names one), its
// manifest is read again from the verified metadata (materialize), and
// must be the one the check saw.

// offer is one improvement target with a valid manifest, in 72 bytes
// besides its path.
type offer struct {
	path string
	// role is the component role that signed the target (roleOf).
	role string
	// m is the manifest, or nil when it is read again on demand.
	m   *manifest.Manifest
	seq int
	// released is the manifest's release time, for ties of sequence:
	// an index in improvements.dates.
	released uint32
	reason   manifest.Reason // of manifest.Check for the device
	active   bool            // the manifest's status is active
	// mismatch is set when the manifest does not belong to the role or
	// path (Available.Verify fails): such a target is rejected.
	mismatch bool
}

// id is the improvement's id: the manifest's, or, for a target whose
// manifest matches its path (every one not kept), from the path
// "<component>/<id>.tar.gz" or ".tar".
func (o *offer) id() string {
	if o.m != nil {
		return o.m.ID
	}
	base := o.path[len(o.role)+1:]
	if s, ok := strings.CutSuffix(base, ".tar.gz"); ok {
		return s
	}
	return strings.TrimSuffix(base, ".tar")
}

// better is manifest.Select's order: higher sequence, then later
// release, then greater id.
func (c *improvements) better(o, b *offer) bool {
	if o.seq != b.seq {
		return o.seq > b.seq
	}
	if o.released != b.released {
		return c.dates[o.released] > c.dates[b.released]
	}
	return o.id() > b.id()
}

// noted reports whether Plan reports the offer on its own: a rejected
// target, or one that does not apply for another reason than withdrawal
// (an Ignore note).
func (o *offer) noted() bool {
	return o.mismatch || o.reason != manifest.Applies && o.reason != manifest.Withdrawn
}

func (o *offer) available() Available { return Available{Path: o.path, Role: o.role, Manifest: o.m} }

// component is the manifest's component: the role, unless the manifest
// does not belong to it (then it is kept).
func (o *offer) component() string {
	if o.m != nil {
		return o.m.Component
	}
	return o.role
}

// improvements collects a check's offers one target at a time (Collect).
type improvements struct {
	device manifest.Device
	// installed and excluded are the journal's: excluded(component, id)
	// reports a decline of an improvement not installed.
	installed map[string]*Installed
	excluded  func(component, id string) bool
	offers    []offer
	notes     []Action
	// best is, per component, the index in offers of the best applicable
	// offer not excluded so far, whose manifest is kept.
	best map[string]int
	// dates are the release times of the offers, each once, and roles
	// the component roles.
	dates  []string
	dateOf map[string]uint32
	roles  map[string]string
	// keepAll keeps every manifest (Collect).
	keepAll bool
}

func newImprovements(d manifest.Device, installed map[string]*Installed, excluded func(component, id string) bool) *improvements {
	return &improvements{device: d, installed: installed, excluded: excluded,
		best: map[string]int{}, dateOf: map[string]uint32{}, roles: map[string]string{}}
}

func (c *improvements) add(t *client.Target) {
	role := roleOf(t)
	m, err := manifest.FromCustom(t.Custom)
	switch {
	case errors.Is(err, manifest.ErrNoManifest):
		return
	case err != nil:
		c.notes = append(c.notes, Action{Kind: Ignore, Component: role, Target: &Available{Path: t.Path, Role: role},
			Reason: "invalid manifest: " + err.Error()})
		return
	}
	if r, ok := c.roles[role]; ok {
		role = r // one copy of each role name
	} else {
		c.roles[role] = role
	}
	date, ok := c.dateOf[m.Released]
	if !ok {
		date = uint32(len(c.dates))
		c.dates = append(c.dates, m.Released)
		c.dateOf[m.Released] = date
	}
	o := offer{path: t.Path, role: role, seq: m.Sequence, released: date, reason: m.Check(c.device).Reason,
		active: m.Status == manifest.StatusActive, m: m,
		// Available.Verify, without making one.
		mismatch: m.Component != role || m.CheckTargetPath(t.Path) != nil}
	i := len(c.offers)
	switch in := c.installed[role]; {
	case c.keepAll, o.noted(), in != nil && in.ID == m.ID:
	case o.reason == manifest.Applies && !c.excluded(role, m.ID):
		// The best so far keeps its manifest; the one it replaces does
		// not, unless kept for another reason.
		if b, ok := c.best[role]; ok {
			if !c.better(&o, &c.offers[b]) {
				o.m = nil
				break
			}
			if prev := &c.offers[b]; !c.keeps(prev) {
				prev.m = nil
			}
		}
		c.best[role] = i
	default:
		o.m = nil
	}
	c.offers = append(c.offers, o)
}

// keeps reports whether the offer's manifest is kept whatever is best.
func (c *improvements) keeps(o *offer) bool {
	return c.keepAll || o.noted() || c.isInstalled(o)
}

// forPlan returns what Plan needs to decide as it would from every offer
// not held back (held) nor excluded: the rejected and ignored targets,
// and per component the installed one when listed, the best applicable
// one, and, when it has no other, one withdrawn target (the component
// then still gets its decision). Manifests not kept are read again.
func (c *improvements) forPlan(ctx context.Context, lookup lookupFunc, held map[string]bool) ([]Available, error) {
	var out []Available
	best := map[string]*offer{}
	has := map[string]bool{}
	var rest []*offer
	for i := range c.offers {
		o := &c.offers[i]
		if held[o.path] || c.excluded(o.component(), o.id()) && !c.isInstalled(o) {
			continue
		}
		switch {
		case o.noted() || c.isInstalled(o):
			out = append(out, o.available())
			has[o.role] = has[o.role] || !o.mismatch
		case o.reason == manifest.Applies:
			if b := best[o.role]; b == nil || c.better(o, b) {
				best[o.role] = o
			}
		default:
			rest = append(rest, o)
		}
	}
	for _, o := range best {
		has[o.role] = true
	}
	for _, o := range rest {
		if !has[o.role] {
			has[o.role] = true
			best[o.role+"\x00"] = o
		}
	}
	for _, o := range best {
		if err := c.materialize(ctx, lookup, o); err != nil {
			return nil, err
		}
		out = append(out, o.available())
	}
	return out, nil
}

func (c *improvements) isInstalled(o *offer) bool {
	in := c.installed[o.component()]
	return in != nil && in.ID == o.id()
}

// find returns the offers of component (every component: "") with id;
// none for a report not made by Check.
func (c *improvements) find(component, id string) []*offer {
	if c == nil {
		return nil
	}
	var out []*offer
	for i := range c.offers {
		if o := &c.offers[i]; (component == "" || o.role == component) && o.id() == id {
			out = append(out, o)
		}
	}
	return out
}

// lower returns the best offer of component below sequence seq that
// applies and is not excluded, read in full; nil when there is none.
func (c *improvements) lower(ctx context.Context, lookup lookupFunc, component string, seq int) (*Available, error) {
	if c == nil {
		return nil, nil
	}
	var best *offer
	for i := range c.offers {
		o := &c.offers[i]
		if o.role != component || o.mismatch || o.seq >= seq || o.reason != manifest.Applies || c.excluded(o.role, o.id()) {
			continue
		}
		if best == nil || c.better(o, best) {
			best = o
		}
	}
	if best == nil {
		return nil, nil
	}
	if err := c.materialize(ctx, lookup, best); err != nil {
		return nil, err
	}
	v := best.available()
	return &v, nil
}

// candidates are the rollout candidates among the offers: those of a
// component role whose manifest belongs to it. only, when not nil, limits
// them to the targets it names.
func (c *improvements) candidates(only map[string]bool) []rollout.Candidate {
	var out []rollout.Candidate
	for i := range c.offers {
		o := &c.offers[i]
		if o.mismatch || only != nil && !only[o.path] {
			continue
		}
		out = append(out, rollout.Candidate{Target: o.path, Component: o.role, ID: o.id(),
			Active: o.active, Applicable: o.reason == manifest.Applies, Installed: c.isInstalled(o)})
	}
	return out
}

// lookupFunc is client.Client.Lookup: the search of 5.6.7 for a path in
// the verified metadata.
type lookupFunc func(ctx context.Context, path string) (*client.Target, error)

// materialize reads the manifest of o again from the verified metadata
// when it was not kept: the search of 5.6.7 for its path, which must give
// the same role and the same deciding fields as the check saw.
func (c *improvements) materialize(ctx context.Context, lookup lookupFunc, o *offer) error {
	if o.m != nil {
		return nil
	}
	t, err := lookup(ctx, o.path)
	if err != nil {
		return fmt.Errorf("read %s again: %w", o.path, err)
	}
	var m *manifest.Manifest
	if t != nil && roleOf(t) == o.role {
		m, err = manifest.FromCustom(t.Custom)
	}
	if t == nil || roleOf(t) != o.role || err != nil || m.Sequence != o.seq || m.Released != c.dates[o.released] ||
		m.ID != o.id() || m.Check(c.device).Reason != o.reason || (m.Status == manifest.StatusActive) != o.active {
		return fmt.Errorf("%s: target %s changed during the check; check again", o.role, o.path)
	}
	o.m = m
	return nil
}
