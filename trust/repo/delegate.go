package repo

import (
	"context"
	"fmt"
	"slices"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
)

// MaxBins is the largest hash-bin count of a component.
const MaxBins = 1 << 14

// DelegateOptions describes a component delegation.
type DelegateOptions struct {
	Keys      []*metadata.Key // the component team's keys
	Threshold int             // 0 means 1
	// Bins, when not zero, is a power of two from 2 to MaxBins: the
	// component role then delegates its paths to that many hash bins
	// (succinct roles "<component>.bin-<hex>") signed by the same keys.
	Bins int
	// Signers sign targets right away (optional).
	Signers []signature.Signer
}

// Delegate adds a component role with paths "<component>/*" under
// targets. Targets, the component role and its bins become pending until
// signed. It fails with a *manifest.NameError for a bad name, a
// *RoleError for a component already delegated, a *ThresholdError for an
// unreachable threshold.
func (w *Workspace) Delegate(ctx context.Context, component string, o DelegateOptions) error {
	if err := manifest.ValidComponent(component); err != nil {
		return err
	}
	if o.Threshold == 0 {
		o.Threshold = 1
	}
	if o.Bins != 0 && (o.Bins < 2 || o.Bins > MaxBins || o.Bins&(o.Bins-1) != 0) {
		return fmt.Errorf("delegate %s: bins %d must be a power of two from 2 to %d", component, o.Bins, MaxBins)
	}
	ids, err := keyIDs(o.Keys)
	if err != nil {
		return err
	}
	if err := checkThreshold(component, o.Threshold, len(ids)); err != nil {
		return err
	}
	return w.mutate(func() error {
		if _, ok := w.cfg.Components[component]; ok {
			return &RoleError{Role: component, Reason: "is already delegated"}
		}
		if err := w.edit(metadata.TARGETS); err != nil {
			return err
		}
		t := w.targets[metadata.TARGETS]
		d := t.Signed.Delegations
		if d == nil {
			d = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
			t.Signed.Delegations = d
		}
		for i, k := range o.Keys {
			d.Keys[ids[i]] = k
		}
		d.Roles = append(d.Roles, metadata.DelegatedRole{Name: component, KeyIDs: slices.Compact(slices.Sorted(slices.Values(ids))),
			Threshold: o.Threshold, Terminating: true, Paths: []string{component + "/*"}})
		c := w.newTargetsRole(component)
		w.cfg.Components[component] = &componentConfig{Bins: o.Bins, Sequences: map[string]int{}}
		if o.Bins > 0 {
			c.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{},
				SuccinctRoles: &metadata.SuccinctRoles{KeyIDs: d.Roles[len(d.Roles)-1].KeyIDs, Threshold: o.Threshold,
					BitLength: bitLength(o.Bins), NamePrefix: binPrefix(component)}}
			for i, k := range o.Keys {
				c.Signed.Delegations.Keys[ids[i]] = k
			}
			for _, b := range w.bins(component) {
				w.newTargetsRole(b)
			}
		}
		return w.signAll(ctx, o.Signers)
	})
}

// signAll signs every pending role each signer may sign.
func (w *Workspace) signAll(ctx context.Context, signers []signature.Signer) error {
	for _, s := range signers {
		if _, err := w.signWith(ctx, s, nil); err != nil {
			return err
		}
	}
	return nil
}

func keyIDs(keys []*metadata.Key) ([]string, error) {
	ids := make([]string, len(keys))
	for i, k := range keys {
		id, err := k.ID()
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(distinct) != len(ids) {
		return nil, fmt.Errorf("the same key is given twice")
	}
	return ids, nil
}

// Undelegate removes a component role (and its bins) from targets. The
// component's improvements disappear from the next snapshot; their
// payloads stay in the content store.
func (w *Workspace) Undelegate(ctx context.Context, component string) error {
	return w.mutate(func() error {
		if _, ok := w.cfg.Components[component]; !ok {
			return &RoleError{Role: component, Reason: "is not delegated"}
		}
		if err := w.edit(metadata.TARGETS); err != nil {
			return err
		}
		t := w.targets[metadata.TARGETS]
		d := t.Signed.Delegations
		d.Roles = slices.DeleteFunc(d.Roles, func(r metadata.DelegatedRole) bool { return r.Name == component })
		pruneKeys(d)
		if len(d.Roles) == 0 {
			t.Signed.Delegations = nil
		}
		for _, r := range append([]string{component}, w.bins(component)...) {
			w.removed[r] = true
			delete(w.targets, r)
			delete(w.dirty, r)
			delete(w.cfg.Edited, r)
		}
		delete(w.cfg.Components, component)
		return nil
	})
}

// pruneKeys drops delegation keys that no role uses any more.
func pruneKeys(d *metadata.Delegations) {
	used := map[string]bool{}
	for _, r := range d.Roles {
		for _, id := range r.KeyIDs {
			used[id] = true
		}
	}
	if d.SuccinctRoles != nil {
		for _, id := range d.SuccinctRoles.KeyIDs {
			used[id] = true
		}
	}
	for id := range d.Keys {
		if !used[id] {
			delete(d.Keys, id)
		}
	}
}
